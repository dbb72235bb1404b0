using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Timeout;

/// <summary>Real threads sharing one timeout's slots and pooled sources: every call ends with its own outcome.</summary>
public class TimeoutStressTests
{
    private const int Threads = 4;
    private const int CallsPerThread = 1500;

    private static async ValueTask<int> WaitForCancellation(int value, CancellationToken token)
    {
        await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, token);
        return value;
    }

    [Fact]
    public async Task Concurrent_calls_on_the_system_clock_never_see_another_calls_cancellation()
    {
        // A minute's timeout never fires here: every cancellation a call sees is its own caller's, and a pooled source
        // that a caller cancelled must never reach a later call.
        var pipeline = new ResiliencePipelineBuilder().AddTimeout(TimeSpan.FromMinutes(1)).Build();
        var handedCancelled = 0;
        var wrongOutcomes = new System.Collections.Concurrent.ConcurrentQueue<string>();

        async Task RunThread(int thread)
        {
            for (var i = 0; i < CallsPerThread; i++)
            {
                var kind = (thread + i) % 4;
                using var caller = new CancellationTokenSource();
                var token = kind == 0 ? CancellationToken.None : caller.Token;
                var call = pipeline.ExecuteOutcomeAsync(
                    async (k, ct) =>
                    {
                        if (ct.IsCancellationRequested)
                        {
                            Interlocked.Increment(ref handedCancelled);
                        }

                        if (k == 3)
                        {
                            return await WaitForCancellation(k, ct);
                        }

                        await Task.Yield();
                        return ct.IsCancellationRequested ? -1 : k;
                    },
                    kind,
                    token);
                if (kind == 3)
                {
                    await caller.CancelAsync();
                }

                var outcome = await call;
                var own = kind == 3
                    ? outcome.Exception is OperationCanceledException e && e.CancellationToken == caller.Token
                    : outcome.Exception is null && outcome.Result == kind;
                if (!own)
                {
                    wrongOutcomes.Enqueue($"thread {thread} call {i} kind {kind}: {outcome}");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() => RunThread(t)))).WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(0, Volatile.Read(ref handedCancelled));
        Assert.Empty(wrongOutcomes);
    }

    [Fact]
    public async Task Concurrent_calls_on_a_fake_clock_time_out_together_and_leave_no_timer_armed()
    {
        var fake = new FakeTimeProvider();
        var time = new CountingTimeProvider(fake);
        var timeout = TimeSpan.FromSeconds(16);
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddTimeout(new TimeoutOptions { Timeout = timeout, TimeProvider = time })
            .Build();
        var waiting = new System.Collections.Concurrent.ConcurrentBag<(Task<Outcome<int>> Call, CancellationTokenSource? Caller)>();
        var wrongOutcomes = new System.Collections.Concurrent.ConcurrentQueue<string>();

        async Task RunThread(int thread)
        {
            for (var i = 0; i < 200; i++)
            {
                var kind = (thread + i) % 4;
                var caller = kind == 0 ? null : new CancellationTokenSource();
                var call = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), kind, caller?.Token ?? CancellationToken.None).AsTask();
                if (kind != 3)
                {
                    waiting.Add((call, caller));
                    continue;
                }

                await caller!.CancelAsync();
                var outcome = await call;
                if (outcome.Exception is not OperationCanceledException e || e.CancellationToken != caller.Token)
                {
                    wrongOutcomes.Enqueue($"thread {thread} call {i}: {outcome}");
                }

                caller.Dispose();
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() => RunThread(t)))).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Empty(wrongOutcomes);

        // Every waiting call started at the same fake instant: none ends before its timeout, all end by a sixteenth later.
        fake.Advance(timeout - TimeSpan.FromTicks(1));
        Assert.DoesNotContain(waiting, w => w.Call.IsCompleted);
        fake.Advance((timeout / 16) + TimeSpan.FromTicks(1));
        var outcomes = await Task.WhenAll(waiting.Select(w => w.Call)).WaitAsync(TimeSpan.FromMinutes(1));

        Assert.All(outcomes, o => Assert.Equal(timeout, Assert.IsType<TimeoutRejectedException>(o.Exception).Timeout));
        Assert.Equal(0, time.Armed);
        foreach (var (_, caller) in waiting)
        {
            caller?.Dispose();
        }
    }
}
