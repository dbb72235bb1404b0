using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Timeout;

/// <summary>
/// <see cref="TimeoutOptions.OnTimeout"/> is told once for each attempt that ends in this strategy's
/// <see cref="TimeoutRejectedException"/>, and never for a success, the caller's cancellation or an outer timeout.
/// </summary>
public class TimeoutHookTests
{
    private static readonly TimeSpan OneSecond = TimeSpan.FromSeconds(1);

    private readonly FakeTimeProvider _time = new();

    private static async ValueTask<int> WaitForCancellation(int value, CancellationToken token)
    {
        await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, token);
        return value;
    }

    private TimeoutOptions Options(string name, TimeSpan timeout, List<TimeoutExpired> told) =>
        new() { Name = name, Timeout = timeout, TimeProvider = _time, OnTimeout = told.Add };

    [Fact]
    public async Task OnTimeout_is_told_once_per_timed_out_attempt_with_the_pipeline_the_strategy_and_the_timeout()
    {
        var told = new List<TimeoutExpired>();
        var retries = new List<RetryScheduled>();
        var pipeline = new ResiliencePipelineBuilder { Name = "orders", TimeProvider = _time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 2, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, OnRetry = retries.Add })
            .AddTimeout(Options("per-attempt", OneSecond, told))
            .Build();
        var attempts = 0;

        var call = pipeline.ExecuteOutcomeAsync(
            (_, token) =>
            {
                Interlocked.Increment(ref attempts);
                return WaitForCancellation(1, token);
            },
            0).AsTask();
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            // Each attempt opens its own slot when it starts: its deadline is at most a sixteenth past its timeout.
            Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref attempts) == attempt, TimeSpan.FromSeconds(30)), $"attempt {attempt} did not start");
            Assert.Equal(attempt - 1, told.Count);
            _time.Advance(OneSecond + (OneSecond / 16));
        }

        var outcome = await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.IsType<TimeoutRejectedException>(outcome.Exception);
        Assert.Equal(Enumerable.Repeat(new TimeoutExpired("orders", "per-attempt", OneSecond), 3), told);
        Assert.All(retries, retry => Assert.IsType<TimeoutRejectedException>(retry.Failure));
        Assert.Equal(2, retries.Count);
    }

    [Fact]
    public async Task OnTimeout_is_told_on_the_callers_token_path_too_with_the_timeout_the_attempt_was_armed_for()
    {
        var told = new List<TimeoutExpired>();
        var strategy = new TimeoutStrategy(Options("owned", OneSecond, told));
        var pipeline = new ResiliencePipelineBuilder { Name = "orders", TimeProvider = _time }.AddStrategy(strategy).Build();
        using var caller = new CancellationTokenSource();

        var call = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1, caller.Token).AsTask();
        strategy.UpdateOptions(Options("ignored", TimeSpan.FromMinutes(1), told));
        _time.Advance(OneSecond);

        Assert.IsType<TimeoutRejectedException>((await call.WaitAsync(TimeSpan.FromSeconds(30))).Exception);
        Assert.Equal([new TimeoutExpired("orders", "owned", OneSecond)], told);
    }

    [Fact]
    public async Task OnTimeout_is_not_told_for_a_success_a_callers_cancellation_or_an_outer_timeout()
    {
        var inner = new List<TimeoutExpired>();
        var outer = new List<TimeoutExpired>();
        var pipeline = new ResiliencePipelineBuilder { Name = "orders", TimeProvider = _time }
            .AddTimeout(Options("total", TimeSpan.FromSeconds(2), outer))
            .AddTimeout(Options("attempt", TimeSpan.FromMinutes(1), inner))
            .Build();

        Assert.Equal(1, await pipeline.ExecuteAsync(static _ => new ValueTask<int>(1)));

        using var caller = new CancellationTokenSource();
        var cancelled = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1, caller.Token).AsTask();
        await caller.CancelAsync();
        Assert.IsAssignableFrom<OperationCanceledException>((await cancelled.WaitAsync(TimeSpan.FromSeconds(30))).Exception);
        Assert.Empty(outer);
        Assert.Empty(inner);

        // The outer timeout cuts the inner one's attempt short: only the outer one timed out.
        var cut = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1).AsTask();
        _time.Advance(TimeSpan.FromSeconds(2) + (TimeSpan.FromSeconds(2) / 16));
        var error = Assert.IsType<TimeoutRejectedException>((await cut.WaitAsync(TimeSpan.FromSeconds(30))).Exception);

        Assert.Equal("total", error.StrategyName);
        Assert.Equal([new TimeoutExpired("orders", "total", TimeSpan.FromSeconds(2))], outer);
        Assert.Empty(inner);
    }

    [Fact]
    public async Task A_throwing_OnTimeout_makes_its_exception_the_outcome_which_the_strategies_outside_see()
    {
        var hookFailure = new InvalidOperationException("hook");
        var seenOutside = new List<Exception>();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 0 }, exception =>
            {
                seenOutside.Add(exception);
                return false;
            })
            .AddTimeout(new TimeoutOptions { Timeout = OneSecond, TimeProvider = _time, OnTimeout = _ => throw hookFailure })
            .Build();
        using var caller = new CancellationTokenSource();

        var shared = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1).AsTask();
        var owned = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 2, caller.Token).AsTask();
        _time.Advance(OneSecond + (OneSecond / 16));

        Assert.Same(hookFailure, (await shared.WaitAsync(TimeSpan.FromSeconds(30))).Exception);
        Assert.Same(hookFailure, (await owned.WaitAsync(TimeSpan.FromSeconds(30))).Exception);
        Assert.Equal([hookFailure, hookFailure], seenOutside);
    }
}
