using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Pipeline;

/// <summary>
/// Calls made where continuations have a home of their own: a single-threaded synchronization context (a UI thread, the
/// classic ASP.NET request context) or a task scheduler other than the default one.
/// </summary>
public sealed class ExecutionEnvironmentTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private readonly SingleThreadSynchronizationContext _context = new();

    public void Dispose() => _context.Dispose();

    [Fact]
    public async Task A_synchronous_call_on_a_single_thread_context_waits_out_a_queue_a_retry_delay_and_a_timeout_without_it()
    {
        var time = new FakeTimeProvider();
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1, TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.FromSeconds(1), UseJitter = false })
            .AddTimeout(TimeSpan.FromSeconds(30))
            .AddRateLimiter(limiter, waitForPermit: true)
            .Build();
        var held = limiter.AttemptAcquire();
        var threads = new List<int>();

        var call = _context.Run(() => pipeline.Execute(_ =>
        {
            threads.Add(Environment.CurrentManagedThreadId);
            return threads.Count < 2 ? throw new IOException("first attempt") : threads.Count;
        }));
        await WaitUntil(() => limiter.GetStatistics()!.CurrentQueuedCount == 1);
        held.Dispose();
        await AdvanceUntil(call, time, TimeSpan.FromMilliseconds(100));

        Assert.Equal(2, await call);
        Assert.Equal([_context.ThreadId, _context.ThreadId], threads);
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task A_synchronous_call_on_a_single_thread_context_completes_a_fallback_level_that_awaits()
    {
        var pipeline = new ResiliencePipelineBuilder<string>()
            .AddFallback(new FallbackOptions<string>
            {
                Levels =
                {
                    new FallbackLevel<string>("awaits", async _ =>
                    {
                        await Task.Yield();
                        return "fallback";
                    }),
                },
            })
            .Build();

        var call = _context.Run(() => pipeline.Execute(string (_) => throw new IOException("primary down")));

        Assert.Equal("fallback", await call.WaitAsync(Bound));
    }

    [Fact]
    public async Task A_synchronous_call_in_a_task_on_an_exclusive_scheduler_completes_a_fallback_level_that_awaits()
    {
        var scheduler = new ConcurrentExclusiveSchedulerPair().ExclusiveScheduler;
        var pipeline = new ResiliencePipelineBuilder<string>()
            .AddFallback(new FallbackOptions<string>
            {
                Levels =
                {
                    new FallbackLevel<string>("awaits", async _ =>
                    {
                        await Task.Yield();
                        return "fallback";
                    }),
                },
            })
            .Build();

        var call = Task.Factory.StartNew(
            () => pipeline.Execute(string (_) => throw new IOException("primary down")), CancellationToken.None, TaskCreationOptions.None, scheduler);

        Assert.Equal("fallback", await call.WaitAsync(Bound));
    }

    [Fact]
    public async Task An_asynchronous_call_blocked_on_from_a_single_thread_context_completes_after_a_retry_delay()
    {
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.FromSeconds(1), UseJitter = false })
            .AddTimeout(TimeSpan.FromSeconds(30))
            .Build();
        var attempts = 0;

        // Blocking on the task is what the context's own code does here (sync over async): the engine must not need the
        // context to finish the call.
#pragma warning disable xUnit1031
        var call = _context.Run(() => pipeline.ExecuteAsync(
            async _ =>
            {
                var attempt = await Task.Run(() => ++attempts).ConfigureAwait(false);
                return attempt < 2 ? throw new IOException("first attempt") : attempt;
            }).AsTask().GetAwaiter().GetResult());
#pragma warning restore xUnit1031
        await AdvanceUntil(call, time, TimeSpan.FromMilliseconds(100));

        Assert.Equal(2, await call);
    }

    [Fact]
    public async Task An_asynchronous_call_runs_its_first_attempt_on_the_callers_context_and_what_follows_a_wait_off_it()
    {
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.FromSeconds(1), UseJitter = false })
            .Build();
        var contexts = new List<SynchronizationContext?>();

        var call = _context.RunAsync(async () =>
        {
            var result = await pipeline.ExecuteAsync(_ =>
            {
                contexts.Add(SynchronizationContext.Current);
                return contexts.Count < 2 ? ValueTask.FromException<int>(new IOException("first attempt")) : ValueTask.FromResult(contexts.Count);
            });

            // The caller's own await comes back to its context.
            return (result, SynchronizationContext.Current, Environment.CurrentManagedThreadId);
        });
        await Task.Run(() => AdvanceUntil(call, time, TimeSpan.FromMilliseconds(100)));

        var (attempts, resumedIn, resumedOn) = await call;
        Assert.Equal(2, attempts);
        Assert.Same(_context, contexts[0]);
        Assert.NotSame(_context, contexts[1]);
        Assert.Same(_context, resumedIn);
        Assert.Equal(_context.ThreadId, resumedOn);
    }

    [Fact]
    public async Task An_asynchronous_call_runs_its_first_attempt_on_the_callers_scheduler_and_what_follows_a_wait_on_the_default_one()
    {
        var scheduler = new ConcurrentExclusiveSchedulerPair().ExclusiveScheduler;
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.FromSeconds(1), UseJitter = false })
            .Build();
        var schedulers = new List<TaskScheduler>();

        var call = Task.Factory.StartNew(
            () => pipeline.ExecuteAsync(_ =>
            {
                schedulers.Add(TaskScheduler.Current);
                return schedulers.Count < 2 ? ValueTask.FromException<int>(new IOException("first attempt")) : ValueTask.FromResult(schedulers.Count);
            }).AsTask(),
            CancellationToken.None,
            TaskCreationOptions.None,
            scheduler).Unwrap();
        await Task.Run(() => AdvanceUntil(call, time, TimeSpan.FromMilliseconds(100)));

        Assert.Equal(2, await call);
        Assert.Equal([scheduler, TaskScheduler.Default], schedulers);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_callers_async_local_reaches_every_attempt_level_and_handler_and_the_callbacks_own_stay_inside(bool synchronous)
    {
        var ambient = new AsyncLocal<string?>();
        var time = new FakeTimeProvider();
        var seen = new List<string>();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { FailureRatio = 0.5, MinimumThroughput = 2, BreakDuration = TimeSpan.FromSeconds(30), TimeProvider = time });
        breaker.Opened += (_, _) => seen.Add($"opened:{ambient.Value}");
        var pipeline = new ResiliencePipelineBuilder<string> { TimeProvider = time }
            .AddFallback(new FallbackOptions<string>
            {
                OnServed = _ => seen.Add($"served:{ambient.Value}"),
                Levels = { new FallbackLevel<string>("default", _ => { seen.Add($"level:{ambient.Value}"); return ValueTask.FromResult("fallback"); }) },
            })
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.FromSeconds(1), UseJitter = false }, outcome =>
            {
                seen.Add($"judged:{ambient.Value}");
                return outcome.Exception is IOException;
            })
            .AddCircuitBreaker(breaker, outcome => outcome.Exception is IOException)
            .Build();

        ambient.Value = "caller";
        Task<string> call;
        if (synchronous)
        {
            call = Task.Run(() => pipeline.Execute(_ =>
            {
                seen.Add($"attempt:{ambient.Value}");
                throw new IOException("down");
            }));
        }
        else
        {
            call = pipeline.ExecuteAsync(async _ =>
            {
                seen.Add($"attempt:{ambient.Value}");
                ambient.Value = "callback";
                await Task.Yield();
                throw new IOException("down");
            }).AsTask();
        }

        // The delay ends on a flow that never saw the caller's value.
        Task advancing;
        using (ExecutionContext.SuppressFlow())
        {
            advancing = Task.Run(() => AdvanceUntil(call, time, TimeSpan.FromMilliseconds(100)));
        }

        await advancing;

        Assert.Equal("fallback", await call);
        Assert.Equal("caller", ambient.Value);
        Assert.Equal(
            ["attempt:caller", "judged:caller", "attempt:caller", "opened:caller", "judged:caller", "level:caller", "served:caller"],
            seen);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 1_000 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    private static async Task AdvanceUntil(Task call, FakeTimeProvider time, TimeSpan step)
    {
        for (var i = 0; i < 1_000 && !call.IsCompleted; i++)
        {
            time.Advance(step);
            await Task.WhenAny(call, Task.Delay(10));
        }

        Assert.True(call.IsCompleted);
    }
}
