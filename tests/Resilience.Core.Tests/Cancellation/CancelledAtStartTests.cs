using System.Reflection;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Cancellation;

/// <summary>
/// A token already cancelled when a call starts: every form answers alike. The call runs as any other (the engine reads
/// no token before the first strategy); a callback that observes its token ends with the caller's cancellation, carrying
/// the caller's token, which no strategy counts as a failure, and every permit taken is returned.
/// </summary>
public class CancelledAtStartTests
{
    public static TheoryData<string> Pipelines => new() { "empty", "timeout", "timeout-system-clock", "retry", "all" };

    [Theory]
    [MemberData(nameof(Pipelines))]
    public async Task Every_form_ends_with_the_callers_cancellation_and_counts_nothing(string kind)
    {
        var time = new FakeTimeProvider();
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();
        var token = caller.Token;
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 2, TimeProvider = time });
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var builder = new ResiliencePipelineBuilder { TimeProvider = time };
        if (kind is "retry" or "all")
        {
            builder.AddRetry(new RetryOptions { Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero });
        }

        if (kind is "all")
        {
            builder.AddCircuitBreaker(breaker).AddRateLimiter(limiter);
        }

        if (kind is "timeout" or "all")
        {
            builder.AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time });
        }

        if (kind is "timeout-system-clock")
        {
            builder.AddTimeout(TimeSpan.FromSeconds(1));
        }

        var pipeline = builder.Build();
        var typed = new ResiliencePipelineBuilder<int> { TimeProvider = time }.AddStrategy(new TimeoutStrategy(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time })).Build();
        var runs = 0;

        int Observe(CancellationToken ct)
        {
            runs++;
            ct.ThrowIfCancellationRequested();
            return 1;
        }

        async ValueTask<int> ObserveLater(CancellationToken ct)
        {
            runs++;
            await Task.Delay(TimeSpan.FromSeconds(1), time, ct);
            return 1;
        }

        var failures = new List<Exception?>
        {
            pipeline.ExecuteOutcome((_, ct) => Observe(ct), 0, token).Exception,
            (await pipeline.ExecuteOutcomeAsync((_, ct) => new ValueTask<int>(Observe(ct)), 0, token)).Exception,
            (await pipeline.ExecuteOutcomeAsync((_, ct) => ObserveLater(ct), 0, token)).Exception,
            (await pipeline.ExecuteOutcomeAsync(static (_, ct) => ValueTask.FromCanceled<int>(ct), 0, token)).Exception,
            Record.Exception(() => pipeline.Execute(ct => Observe(ct), token)),
            Record.Exception(() => pipeline.Execute(ct => { Observe(ct); }, token)),
            await Record.ExceptionAsync(async () => await pipeline.ExecuteAsync(ct => new ValueTask<int>(Observe(ct)), token)),
            await Record.ExceptionAsync(async () => await pipeline.ExecuteAsync(async ct => await ObserveLater(ct), token)),
            await Record.ExceptionAsync(async () => await pipeline.ExecuteAsync(static (s, ct) => { ct.ThrowIfCancellationRequested(); return ValueTask.CompletedTask; }, 0, token)),
            typed.ExecuteOutcome((_, ct) => Observe(ct), 0, token).Exception,
            (await typed.ExecuteOutcomeAsync((_, ct) => ObserveLater(ct), 0, token)).Exception,
            await Record.ExceptionAsync(async () => await typed.ExecuteAsync(ct => new ValueTask<int>(Observe(ct)), token)),
        };

        Assert.All(failures, failure => Assert.Equal(token, Assert.IsAssignableFrom<OperationCanceledException>(failure).CancellationToken));
        Assert.Equal(10, runs);
        Assert.Equal((CircuitState.Closed, 0L, 0L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
        Assert.Equal((1L, 0L), (limiter.GetStatistics()!.CurrentAvailablePermits, limiter.GetStatistics()!.CurrentQueuedCount));
    }

    [Fact]
    public async Task A_queued_wait_with_a_cancelled_token_takes_no_permit_and_runs_nothing()
    {
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        using var held = limiter.AttemptAcquire(1);
        var runs = 0;

        var outcome = await pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(++runs), 0, caller.Token);

        Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception).CancellationToken);
        Assert.Equal(0, runs);
        Assert.Equal((0L, 0L, 0L), (limiter.GetStatistics()!.CurrentAvailablePermits, limiter.GetStatistics()!.CurrentQueuedCount, limiter.GetStatistics()!.TotalFailedLeases));
    }

    [Fact]
    public async Task A_concurrency_limiter_cancelled_after_the_base_class_looked_answers_in_the_task()
    {
        // RateLimiter.AcquireAsync answers a token cancelled before the call itself; one cancelled just after reaches the
        // limiter's own AcquireAsyncCore, called here as the base class calls it.
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var core = typeof(InFlightLimiter).GetMethod("AcquireAsyncCore", BindingFlags.NonPublic | BindingFlags.Instance)!;

        var acquisition = (ValueTask<RateLimitLease>)core.Invoke(limiter, [1, caller.Token])!;

        Assert.True(acquisition.IsCanceled);
        var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await acquisition);
        Assert.Equal(caller.Token, cancelled.CancellationToken);
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
    }
}
