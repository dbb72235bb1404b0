using System.Collections.Concurrent;

namespace Resilience.Tests.Pooling;

/// <summary>
/// A timeout on the system clock pools the sources of calls that bring a caller token. Real threads check that a pooled
/// source belongs to one call at a time, whatever path the call takes out (a result, a failure, a caller's cancellation,
/// a retry, a throwing hook), and that a source a caller cancelled never serves another call.
/// </summary>
public class PooledTimeoutSourceTests
{
    private const int Threads = 4;
    private const int CallsPerThread = 2000;

    [Fact]
    public async Task A_pooled_source_serves_one_call_at_a_time_and_never_arrives_cancelled()
    {
        var pipeline = new ResiliencePipelineBuilder<int>()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, UseJitter = false }, o => o.Exception is IOException)
            .AddTimeout(TimeSpan.FromMinutes(1))
            .Build();
        var live = new ConcurrentDictionary<CancellationToken, int>();
        var problems = new ConcurrentQueue<string>();

        async Task RunThread(int thread)
        {
            var random = new Random(thread);
            for (var i = 0; i < CallsPerThread; i++)
            {
                var id = (thread * CallsPerThread) + i;
                var kind = random.Next(5);
                using var caller = new CancellationTokenSource();
                var call = pipeline.ExecuteOutcomeAsync(
                    async (s, ct) =>
                    {
                        if (!live.TryAdd(ct, s.id))
                        {
                            problems.Enqueue($"call {s.id} got the token of live call {live.GetValueOrDefault(ct)}");
                        }

                        try
                        {
                            if (ct.IsCancellationRequested)
                            {
                                problems.Enqueue($"call {s.id} got a cancelled token");
                            }

                            switch (s.kind)
                            {
                                case 0:
                                    return s.id;
                                case 1:
                                    await Task.Yield();
                                    return s.id;
                                case 2:
                                    await Task.Yield();
                                    throw new IOException("transient");
                                case 3:
                                    await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, ct);
                                    return -1;
                                default:
                                    throw new InvalidOperationException("not retried");
                            }
                        }
                        finally
                        {
                            live.TryRemove(ct, out _);
                        }
                    },
                    (id, kind),
                    caller.Token);
                if (kind == 3)
                {
                    await caller.CancelAsync();
                }

                var outcome = await call;
                var own = kind switch
                {
                    0 or 1 => outcome.Exception is null && outcome.Result == id,
                    2 => outcome.Exception is IOException,
                    3 => outcome.Exception is OperationCanceledException e && e.CancellationToken == caller.Token,
                    _ => outcome.Exception is InvalidOperationException,
                };
                if (!own)
                {
                    problems.Enqueue($"call {id} kind {kind}: {outcome}");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() => RunThread(t)))).WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Empty(problems);
    }

    [Fact]
    public async Task Cancels_racing_the_end_of_calls_never_reach_a_call_whose_caller_did_not_cancel()
    {
        // Nested timeouts, each pooling: the inner pipeline's caller token is the outer timeout's pooled token. A caller
        // cancels on another thread as its call ends; a source it reached must not be reset and handed on, and a link it
        // left must not cancel whichever call holds the source next.
        var inner = new ResiliencePipelineBuilder().AddTimeout(TimeSpan.FromMinutes(1)).Build();
        var outer = new ResiliencePipelineBuilder().AddTimeout(TimeSpan.FromMinutes(2)).Build();
        var problems = new ConcurrentQueue<string>();

        async Task RunThread(int thread)
        {
            var random = new Random(thread + 100);
            for (var i = 0; i < CallsPerThread; i++)
            {
                var id = (thread * CallsPerThread) + i;
                var cancels = random.Next(2) == 0;
                var yields = random.Next(2) == 0;
                using var caller = new CancellationTokenSource();
                var state = (Inner: inner, Yields: yields, Problems: problems, Id: id, Cancels: cancels);
                var call = outer.ExecuteOutcomeAsync(
                    static (s, outerToken) => s.Inner.ExecuteOutcomeAsync(
                        static async (s, token) =>
                        {
                            if (s.Yields)
                            {
                                await Task.Yield();
                            }

                            if (token.IsCancellationRequested && !s.Cancels)
                            {
                                s.Problems.Enqueue($"call {s.Id}: its token was cancelled, though its caller never cancelled");
                            }

                            return s.Id;
                        },
                        s,
                        outerToken),
                    state,
                    caller.Token);
                var cancelling = cancels ? Task.Run(caller.Cancel) : Task.CompletedTask;
                var outcome = await call;
                await cancelling;
                if (!outcome.IsSuccess || outcome.Result.Result != id)
                {
                    problems.Enqueue($"call {id}: {outcome} / {outcome.Result}");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() => RunThread(t)))).WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Empty(problems);
    }

    [Fact]
    public async Task A_pooled_source_whose_timeout_fired_never_serves_another_call()
    {
        // A 2 ms timeout fires for every call that waits for it; the sources that fired are kept (so none is collected
        // and its identity reused), and no later call may receive one of their tokens.
        var pipeline = new ResiliencePipelineBuilder().AddTimeout(TimeSpan.FromMilliseconds(2)).Build();
        var fired = new ConcurrentDictionary<CancellationToken, int>();
        var problems = new ConcurrentQueue<string>();

        async Task RunThread(int thread)
        {
            for (var i = 0; i < 300; i++)
            {
                var id = (thread * 300) + i;
                var waits = i % 2 == 0;
                using var caller = new CancellationTokenSource();
                var outcome = await pipeline.ExecuteOutcomeAsync(
                    async (s, ct) =>
                    {
                        if (s.fired.ContainsKey(ct))
                        {
                            s.problems.Enqueue($"call {s.id} got a token whose timeout fired in an earlier call");
                        }

                        if (s.waits)
                        {
                            try
                            {
                                await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, ct);
                            }
                            finally
                            {
                                s.fired.TryAdd(ct, s.id);
                            }
                        }

                        return s.id;
                    },
                    (id, waits, fired, problems),
                    caller.Token);
                if (waits ? outcome.Exception is not TimeoutRejectedException : outcome.Result != id)
                {
                    problems.Enqueue($"call {id}: {outcome}");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 2).Select(t => Task.Run(() => RunThread(t)))).WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(300, fired.Count);
        Assert.Empty(problems);
    }
}
