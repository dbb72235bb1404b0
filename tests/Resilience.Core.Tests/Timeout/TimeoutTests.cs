using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Timeout;

public class TimeoutTests
{
    private readonly FakeTimeProvider _time = new();

    private ResiliencePipeline Pipeline(TimeSpan timeout, out TimeoutStrategy strategy)
    {
        strategy = new TimeoutStrategy(new TimeoutOptions { Timeout = timeout, TimeProvider = _time });
        return new ResiliencePipelineBuilder { Name = "slow", TimeProvider = _time }.AddStrategy(strategy).Build();
    }

    private static async ValueTask<int> WaitForCancellation(int value, CancellationToken token)
    {
        await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, token);
        return value;
    }

    [Fact]
    public async Task Attempt_longer_than_the_timeout_fails_with_a_timeout_exception()
    {
        var pipeline = Pipeline(TimeSpan.FromSeconds(1), out _);

        var call = pipeline.ExecuteAsync(static (v, ct) => WaitForCancellation(v, ct), 1).AsTask();
        _time.Advance(TimeSpan.FromSeconds(1) + TimeSpan.FromSeconds(1.0 / 16));
        var error = await Assert.ThrowsAsync<TimeoutRejectedException>(() => call);

        Assert.Equal(TimeSpan.FromSeconds(1), error.Timeout);
        Assert.Equal(("slow", "TimeoutStrategy"), (error.PipelineName, error.StrategyName));
        Assert.IsAssignableFrom<OperationCanceledException>(error.InnerException);
    }

    [Fact]
    public async Task Shared_slot_never_cancels_early_and_at_most_a_sixteenth_late()
    {
        var pipeline = Pipeline(TimeSpan.FromSeconds(16), out _);

        var first = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1).AsTask();
        _time.Advance(TimeSpan.FromMilliseconds(500));
        var second = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 2).AsTask();

        // Both started in the first slot (one second long): its source fires one timeout after the slot closes, at 17 s.
        _time.Advance(TimeSpan.FromMilliseconds(15_499));
        await Task.Delay(20);
        Assert.False(first.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1_001));

        Assert.IsType<TimeoutRejectedException>((await first).Exception);
        Assert.IsType<TimeoutRejectedException>((await second).Exception);
    }

    [Fact]
    public async Task A_timeout_shorter_than_16_ms_is_cancelled_at_most_a_sixteenth_late()
    {
        // Slots were at least 1 ms long: an 8 ms timeout's first call was cancelled at 9 ms, an eighth late.
        var pipeline = Pipeline(TimeSpan.FromMilliseconds(8), out _);

        var call = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1).AsTask();
        _time.Advance(TimeSpan.FromMilliseconds(8) + (TimeSpan.FromMilliseconds(8) / 16));

        var outcome = await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.IsType<TimeoutRejectedException>(outcome.Exception);
    }

    [Theory]
    [InlineData(1.0 / (24 * 60 * 60 * 1000))]
    [InlineData(1.0)]
    public async Task The_shortest_and_longest_timeouts_validation_accepts_fire_on_time_with_and_without_a_caller_token(double days)
    {
        var timeout = TimeSpan.FromDays(days);
        Assert.InRange(timeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromDays(1));
        var pipeline = Pipeline(timeout, out _);
        using var caller = new CancellationTokenSource();

        var shared = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1).AsTask();
        var owned = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 2, caller.Token).AsTask();
        _time.Advance(timeout - TimeSpan.FromTicks(1));
        Assert.False(shared.IsCompleted);
        Assert.False(owned.IsCompleted);

        _time.Advance((timeout / 16) + TimeSpan.FromTicks(1));
        Assert.IsType<TimeoutRejectedException>((await shared.WaitAsync(TimeSpan.FromSeconds(30))).Exception);
        Assert.IsType<TimeoutRejectedException>((await owned.WaitAsync(TimeSpan.FromSeconds(30))).Exception);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TimeoutStrategy(new TimeoutOptions { Timeout = TimeSpan.FromDays(1) + TimeSpan.FromTicks(1) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TimeoutStrategy(new TimeoutOptions { Timeout = TimeSpan.FromMilliseconds(1) - TimeSpan.FromTicks(1) }));
    }

    [Fact]
    public async Task Caller_cancellation_stays_a_caller_cancellation_and_cancels_only_that_call()
    {
        var pipeline = Pipeline(TimeSpan.FromMinutes(1), out _);
        using var mine = new CancellationTokenSource();
        using var theirs = new CancellationTokenSource();

        var cancelled = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1, mine.Token).AsTask();
        var other = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 2, theirs.Token).AsTask();
        mine.Cancel();
        var outcome = await cancelled;

        Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception);
        Assert.IsNotType<TimeoutRejectedException>(outcome.Exception);
        Assert.False(other.IsCompleted);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.IsType<TimeoutRejectedException>((await other).Exception);
    }

    [Fact]
    public async Task Caller_cancellation_carries_the_callers_token_with_the_callbacks_exception_inside()
    {
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { ConsecutiveFailures = 1, TimeProvider = _time });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddCircuitBreaker(breaker)
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromMinutes(1), TimeProvider = _time })
            .Build();
        using var caller = new CancellationTokenSource();

        var call = pipeline.ExecuteAsync(static (v, ct) => WaitForCancellation(v, ct), 1, caller.Token).AsTask();
        caller.Cancel();
        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);

        Assert.Equal(caller.Token, error.CancellationToken);
        var inner = Assert.IsAssignableFrom<OperationCanceledException>(error.InnerException);
        Assert.NotEqual(caller.Token, inner.CancellationToken);
        Assert.Equal((CircuitState.Closed, 0), (breaker.State, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task An_outer_timeout_reports_its_own_timeout_through_an_inner_one()
    {
        var outer = new TimeoutStrategy(new TimeoutOptions { Name = "total", Timeout = TimeSpan.FromSeconds(2), TimeProvider = _time });
        var inner = new TimeoutStrategy(new TimeoutOptions { Name = "attempt", Timeout = TimeSpan.FromSeconds(30), TimeProvider = _time });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }.AddStrategy(outer).AddStrategy(inner).Build();

        var call = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1).AsTask();
        _time.Advance(TimeSpan.FromSeconds(3));
        var error = Assert.IsType<TimeoutRejectedException>((await call).Exception);

        Assert.Equal(("total", TimeSpan.FromSeconds(2)), (error.StrategyName, error.Timeout));
    }

    [Fact]
    public async Task Fast_calls_succeed_and_pooled_sources_are_reused_without_carrying_a_timeout()
    {
        var pipeline = Pipeline(TimeSpan.FromSeconds(1), out _);
        using var caller = new CancellationTokenSource();

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(i, await pipeline.ExecuteAsync(static (v, _) => new ValueTask<int>(v), i, caller.Token));
            Assert.Equal(i, pipeline.Execute(static (v, _) => v, i));
        }

        var slow = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1, caller.Token).AsTask();
        _time.Advance(TimeSpan.FromMilliseconds(999));
        await Task.Delay(20);
        Assert.False(slow.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.IsType<TimeoutRejectedException>((await slow).Exception);
    }

    [Fact]
    public async Task Live_update_applies_the_new_timeout_to_new_calls_and_validation_names_the_option()
    {
        var pipeline = Pipeline(TimeSpan.FromMinutes(10), out var strategy);
        strategy.UpdateOptions(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(2) });

        var call = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1).AsTask();
        _time.Advance(TimeSpan.FromSeconds(3));

        Assert.IsType<TimeoutRejectedException>((await call).Exception);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => strategy.UpdateOptions(new TimeoutOptions { Timeout = TimeSpan.Zero }));
        Assert.Contains("TimeoutOptions.Timeout must be in [00:00:00.0010000, 1.00:00:00]; was 00:00:00.", error.Message, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(2), strategy.Timeout);
    }

    [Fact]
    public async Task A_call_never_joins_a_shared_slot_whose_source_has_already_fired()
    {
        // The slot is judged on a coarse clock (16 ms steps here, as the system tick count on some platforms) while its
        // source fires on a precise timer: a 1 ms timeout's slot source fires long before the coarse clock moves on.
        var coarse = new CoarseTimeProvider(_time, TimeSpan.FromMilliseconds(16));
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = coarse }
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromMilliseconds(1), TimeProvider = coarse })
            .Build();

        Assert.Equal(1, pipeline.Execute(static (v, _) => v, 1));
        _time.Advance(TimeSpan.FromMilliseconds(5));
        var call = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 2).AsTask();

        Assert.False(call.IsCompleted, "the call was handed a token cancelled before it started");
        _time.Advance(TimeSpan.FromMilliseconds(2));
        Assert.IsType<TimeoutRejectedException>((await call).Exception);
    }

    [Fact]
    public async Task Timeout_options_without_a_clock_run_on_the_pipelines_clock()
    {
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddTimeout(new TimeoutOptions { Name = "attempt", Timeout = TimeSpan.FromHours(1) })
            .Build();

        var call = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1).AsTask();
        _time.Advance(TimeSpan.FromHours(2));

        // The system clock would take an hour: only the pipeline's clock can have timed the call out.
        var outcome = await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("attempt", Assert.IsType<TimeoutRejectedException>(outcome.Exception).StrategyName);
    }

    [Fact]
    public async Task A_slot_opened_with_the_old_timeout_while_an_update_lands_takes_no_call_under_the_new_one()
    {
        var hooked = new HookedTimeProvider(_time);
        var strategy = new TimeoutStrategy(new TimeoutOptions { Timeout = TimeSpan.FromHours(1), TimeProvider = hooked });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = hooked }.AddStrategy(strategy).Build();

        // The update lands after the first call read the old timeout and before it opened its slot.
        hooked.OnNextRead(() => strategy.UpdateOptions(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1) }));
        var started = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1).AsTask();
        var after = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 2).AsTask();
        _time.Advance(TimeSpan.FromSeconds(2));

        var outcome = await after.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(TimeSpan.FromSeconds(1), Assert.IsType<TimeoutRejectedException>(outcome.Exception).Timeout);
        Assert.False(started.IsCompleted);
        _time.Advance(TimeSpan.FromHours(2));
        Assert.IsType<TimeoutRejectedException>((await started).Exception);
    }

    [Fact]
    public async Task A_timeout_reports_the_timeout_its_call_was_armed_for_after_an_update()
    {
        var pipeline = Pipeline(TimeSpan.FromHours(1), out var strategy);
        using var caller = new CancellationTokenSource();

        var shared = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 1).AsTask();
        var owned = pipeline.ExecuteOutcomeAsync(static (v, ct) => WaitForCancellation(v, ct), 2, caller.Token).AsTask();
        strategy.UpdateOptions(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1) });
        _time.Advance(TimeSpan.FromHours(2));

        Assert.Equal(TimeSpan.FromHours(1), Assert.IsType<TimeoutRejectedException>((await shared).Exception).Timeout);
        Assert.Equal(TimeSpan.FromHours(1), Assert.IsType<TimeoutRejectedException>((await owned).Exception).Timeout);
    }
}
