using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.CircuitBreaker;

public class CircuitBreakerTests
{
    private readonly FakeTimeProvider _time = new();

    private Resilience.CircuitBreaker Create(Action<CircuitBreakerOptions>? configure = null)
    {
        var options = new CircuitBreakerOptions
        {
            FailureRatio = 0.5,
            MinimumThroughput = 4,
            SamplingDuration = TimeSpan.FromSeconds(10),
            BucketCount = 10,
            BreakDuration = TimeSpan.FromSeconds(5),
            TimeProvider = _time,
        };
        configure?.Invoke(options);
        return new Resilience.CircuitBreaker(options);
    }

    private static void Call(Resilience.CircuitBreaker breaker, CircuitCallResult result)
    {
        var permit = breaker.TryAcquire();
        Assert.True(permit.IsAcquired);
        breaker.Record(permit, result);
    }

    private void OpenIt(Resilience.CircuitBreaker breaker)
    {
        for (var i = 0; i < 4; i++)
        {
            Call(breaker, CircuitCallResult.Failure);
        }

        Assert.Equal(CircuitState.Open, breaker.State);
    }

    [Fact]
    public void Opens_when_failure_ratio_reaches_threshold_after_minimum_throughput()
    {
        var breaker = Create();
        var transitions = new List<CircuitTransition>();
        breaker.Transitioned += (_, t) => transitions.Add(t);

        Call(breaker, CircuitCallResult.Success);
        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Success);
        Assert.Equal(CircuitState.Closed, breaker.State);
        Call(breaker, CircuitCallResult.Failure);

        Assert.Equal(CircuitState.Open, breaker.State);
        var opened = Assert.Single(transitions);
        Assert.Equal((CircuitState.Closed, CircuitState.Open, CircuitTransitionReason.FailureRatio), (opened.From, opened.To, opened.Reason));
        Assert.Equal((4, 2), (opened.Window.Calls, opened.Window.Failures));
        Assert.Equal(0.5, opened.Window.FailureRatio);
        Assert.Equal(TimeSpan.FromSeconds(5), opened.BreakDuration);
    }

    [Fact]
    public void Below_minimum_throughput_failures_do_not_open()
    {
        var breaker = Create();

        for (var i = 0; i < 3; i++)
        {
            Call(breaker, CircuitCallResult.Failure);
        }

        Assert.Equal(CircuitState.Closed, breaker.State);
        Assert.Equal(3, breaker.GetSnapshot().Failures);
    }

    [Fact]
    public void Old_buckets_slide_out_of_the_window()
    {
        var breaker = Create();
        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Failure);

        _time.Advance(TimeSpan.FromSeconds(10));
        Call(breaker, CircuitCallResult.Failure);

        Assert.Equal(CircuitState.Closed, breaker.State);
        Assert.Equal(1, breaker.GetSnapshot().Calls);
    }

    [Fact]
    public void Open_rejects_with_time_left_then_admits_a_probe_after_the_break()
    {
        var breaker = Create();
        OpenIt(breaker);

        _time.Advance(TimeSpan.FromSeconds(2));
        var rejected = breaker.TryAcquire();
        Assert.False(rejected.IsAcquired);
        Assert.Equal(RejectionReason.BrokenCircuit, rejected.RejectionReason);
        Assert.Equal(TimeSpan.FromSeconds(3), rejected.RetryAfter);

        _time.Advance(TimeSpan.FromSeconds(3));
        var probe = breaker.TryAcquire();
        Assert.True(probe.IsProbe);
        Assert.Equal(CircuitState.HalfOpen, breaker.State);
        Assert.False(breaker.TryAcquire().IsAcquired);

        breaker.Record(probe, CircuitCallResult.Success);
        Assert.Equal(CircuitState.Closed, breaker.State);
        Assert.Equal(0, breaker.GetSnapshot().Calls);
    }

    [Fact]
    public void Failed_probe_reopens_with_a_growing_capped_break_that_resets_once_closed()
    {
        var breaker = Create(o => { o.BreakDurationMultiplier = 2; o.MaxBreakDuration = TimeSpan.FromSeconds(15); });
        var breaks = new List<TimeSpan?>();
        breaker.Transitioned += (_, t) => { if (t.To == CircuitState.Open) { breaks.Add(t.BreakDuration); } };
        OpenIt(breaker);

        for (var i = 0; i < 3; i++)
        {
            _time.Advance(breaks[^1]!.Value);
            Call(breaker, CircuitCallResult.Failure);
        }

        _time.Advance(breaks[^1]!.Value);
        Call(breaker, CircuitCallResult.Success);
        OpenIt(breaker);

        Assert.Equal([5, 10, 15, 15, 5], breaks.Select(b => b!.Value.TotalSeconds));
    }

    [Fact]
    public void Jitter_spreads_break_durations_within_bounds_and_is_seeded()
    {
        List<double> Run()
        {
            var breaker = Create(o => { o.BreakDurationJitter = 0.2; o.JitterSeed = 7; });
            var breaks = new List<double>();
            breaker.Transitioned += (_, t) => { if (t.BreakDuration is { } b) { breaks.Add(b.TotalSeconds); } };
            for (var i = 0; i < 20; i++)
            {
                OpenIt(breaker);
                breaker.Close();
            }

            return breaks;
        }

        var first = Run();

        Assert.All(first, b => Assert.InRange(b, 4.0, 6.0));
        Assert.True(first.Distinct().Count() > 10);
        Assert.Equal(first, Run());
    }

    [Fact]
    public void Several_probes_close_on_the_success_ratio_and_reopen_when_it_cannot_be_reached()
    {
        var breaker = Create(o => { o.PermittedProbes = 4; o.ProbeSuccessRatio = 0.75; });
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));

        var probes = Enumerable.Range(0, 4).Select(_ => breaker.TryAcquire()).ToList();
        Assert.All(probes, p => Assert.True(p.IsProbe));
        Assert.False(breaker.TryAcquire().IsAcquired);
        breaker.Record(probes[0], CircuitCallResult.Failure);
        breaker.Record(probes[1], CircuitCallResult.Success);
        breaker.Record(probes[2], CircuitCallResult.Success);
        Assert.Equal(CircuitState.HalfOpen, breaker.State);
        breaker.Record(probes[3], CircuitCallResult.Success);
        Assert.Equal(CircuitState.Closed, breaker.State);

        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        var second = Enumerable.Range(0, 4).Select(_ => breaker.TryAcquire()).ToList();
        breaker.Record(second[0], CircuitCallResult.Failure);
        Assert.Equal(CircuitState.HalfOpen, breaker.State);
        breaker.Record(second[1], CircuitCallResult.Failure);
        Assert.Equal(CircuitState.Open, breaker.State);
    }

    [Fact]
    public void Ignored_probe_frees_its_slot()
    {
        var breaker = Create();
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        var probe = breaker.TryAcquire();

        breaker.Record(probe, CircuitCallResult.Ignored);
        var next = breaker.TryAcquire();

        Assert.True(next.IsProbe);
        Assert.Equal(probe.Generation, next.Generation);
    }

    [Fact]
    public void Hung_probe_gives_its_slot_to_a_new_probe_after_the_probe_timeout()
    {
        var breaker = Create(o => o.ProbeTimeout = TimeSpan.FromSeconds(1));
        var reasons = new List<CircuitTransitionReason>();
        breaker.Transitioned += (_, t) => reasons.Add(t.Reason);
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        var hung = breaker.TryAcquire();

        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(TimeSpan.FromMilliseconds(1), breaker.TryAcquire().RetryAfter);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var fresh = breaker.TryAcquire();

        Assert.True(fresh.IsProbe);
        Assert.NotEqual(hung.Generation, fresh.Generation);
        breaker.Record(hung, CircuitCallResult.Failure);
        Assert.Equal(CircuitState.HalfOpen, breaker.State);
        breaker.Record(fresh, CircuitCallResult.Success);
        Assert.Equal(CircuitState.Closed, breaker.State);
        Assert.Equal(CircuitTransitionReason.ProbeTimedOut, reasons[^2]);
    }

    [Fact]
    public void Late_result_from_an_older_generation_is_not_counted()
    {
        var breaker = Create();
        var late = breaker.TryAcquire();
        OpenIt(breaker);
        breaker.Close();

        breaker.Record(late, CircuitCallResult.Failure);

        Assert.Equal(0, breaker.GetSnapshot().Calls);
        Assert.NotEqual(late.Generation, breaker.GetSnapshot().Generation);
    }

    [Fact]
    public void Late_closed_result_does_not_consume_a_probe_of_the_half_open_round()
    {
        var breaker = Create();
        var late = breaker.TryAcquire();
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        var probe = breaker.TryAcquire();

        breaker.Record(late, CircuitCallResult.Success);
        Assert.Equal(CircuitState.HalfOpen, breaker.State);
        breaker.Record(probe, CircuitCallResult.Success);
        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public void Slow_calls_open_the_breaker_on_the_slow_call_ratio()
    {
        var breaker = Create(o => { o.SlowCallDuration = TimeSpan.FromMilliseconds(200); o.SlowCallRatio = 0.5; });
        CircuitTransition? opened = null;
        breaker.Transitioned += (_, t) => opened = t;

        for (var i = 0; i < 4; i++)
        {
            var permit = breaker.TryAcquire();
            _time.Advance(TimeSpan.FromMilliseconds(i % 2 == 0 ? 50 : 200));
            breaker.Record(permit, CircuitCallResult.Success);
        }

        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Equal(CircuitTransitionReason.SlowCallRatio, opened!.Reason);
        Assert.Equal((4, 0, 2), (opened.Window.Calls, opened.Window.Failures, opened.Window.SlowCalls));
    }

    [Fact]
    public void Consecutive_failures_open_below_minimum_throughput_and_a_success_resets_the_run()
    {
        var breaker = Create(o => { o.ConsecutiveFailures = 3; o.MinimumThroughput = 1000; });

        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Success);
        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Failure);
        Assert.Equal(CircuitState.Closed, breaker.State);
        Call(breaker, CircuitCallResult.Failure);

        Assert.Equal(CircuitState.Open, breaker.State);
    }

    [Fact]
    public void Isolate_holds_open_until_close_and_events_say_manual()
    {
        var breaker = Create();
        var transitions = new List<CircuitTransition>();
        breaker.Transitioned += (_, t) => transitions.Add(t);

        breaker.Isolate();
        _time.Advance(TimeSpan.FromHours(1));
        var rejected = breaker.TryAcquire();
        breaker.Close();

        Assert.Equal(RejectionReason.IsolatedCircuit, rejected.RejectionReason);
        Assert.Null(rejected.RetryAfter);
        Assert.True(breaker.TryAcquire().IsAcquired);
        Assert.Equal([(CircuitState.Closed, CircuitState.Isolated), (CircuitState.Isolated, CircuitState.Closed)], transitions.Select(t => (t.From, t.To)));
        Assert.All(transitions, t => Assert.Equal(CircuitTransitionReason.Manual, t.Reason));
        Assert.Contains("Isolated -> Closed", transitions[1].ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Update_options_keeps_state_and_window_and_applies_new_thresholds()
    {
        var breaker = Create(o => o.MinimumThroughput = 100);
        for (var i = 0; i < 6; i++)
        {
            Call(breaker, CircuitCallResult.Failure);
        }

        Assert.Equal(CircuitState.Closed, breaker.State);
        breaker.UpdateOptions(new CircuitBreakerOptions { MinimumThroughput = 4, FailureRatio = 0.5, SamplingDuration = TimeSpan.FromSeconds(10), BucketCount = 10, TimeProvider = _time });
        Assert.Equal(6, breaker.GetSnapshot().Calls);
        Call(breaker, CircuitCallResult.Failure);

        Assert.Equal(CircuitState.Open, breaker.State);
        var generation = breaker.GetSnapshot().Generation;
        breaker.UpdateOptions(new CircuitBreakerOptions { BreakDuration = TimeSpan.FromSeconds(1), SamplingDuration = TimeSpan.FromSeconds(20), TimeProvider = _time });
        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Equal(generation, breaker.GetSnapshot().Generation);
        Assert.Equal(TimeSpan.FromSeconds(20), breaker.Options.SamplingDuration);
    }

    [Fact]
    public void Invalid_update_is_rejected_as_a_whole()
    {
        var breaker = Create();

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => breaker.UpdateOptions(new CircuitBreakerOptions { MinimumThroughput = 2, FailureRatio = 1.5 }));

        Assert.Equal(4, breaker.Options.MinimumThroughput);
        Assert.Contains("CircuitBreakerOptions.FailureRatio must be in (0, 1]; was 1.5", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(CircuitBreakerOptions.FailureRatio), "must be in (0, 1]")]
    [InlineData(nameof(CircuitBreakerOptions.MinimumThroughput), "must be in [1, 2147483647]")]
    [InlineData(nameof(CircuitBreakerOptions.BucketCount), "must be in [1, 1000]")]
    [InlineData(nameof(CircuitBreakerOptions.SamplingDuration), "must be in [00:00:00.0100000, 1.00:00:00]")]
    [InlineData(nameof(CircuitBreakerOptions.SlowCallDuration), "must be at least")]
    [InlineData(nameof(CircuitBreakerOptions.SlowCallRatio), "must be in (0, 1]")]
    [InlineData(nameof(CircuitBreakerOptions.ConsecutiveFailures), "must be in [0, 2147483647]")]
    [InlineData(nameof(CircuitBreakerOptions.BreakDuration), "must be in [00:00:00.0010000, 1.00:00:00]")]
    [InlineData(nameof(CircuitBreakerOptions.BreakDurationMultiplier), "must be in [1, 100]")]
    [InlineData(nameof(CircuitBreakerOptions.MaxBreakDuration), "must be in [00:00:05, 1.00:00:00]")]
    [InlineData(nameof(CircuitBreakerOptions.BreakDurationJitter), "must be in [0, 1)")]
    [InlineData(nameof(CircuitBreakerOptions.PermittedProbes), "must be in [1, 10000]")]
    [InlineData(nameof(CircuitBreakerOptions.ProbeSuccessRatio), "must be in (0, 1]")]
    [InlineData(nameof(CircuitBreakerOptions.ProbeTimeout), "must be at least")]
    public void Validation_names_the_option_and_its_range(string option, string range)
    {
        var options = new CircuitBreakerOptions();
        Action spoil = option switch
        {
            nameof(CircuitBreakerOptions.FailureRatio) => () => options.FailureRatio = 0,
            nameof(CircuitBreakerOptions.MinimumThroughput) => () => options.MinimumThroughput = 0,
            nameof(CircuitBreakerOptions.BucketCount) => () => options.BucketCount = 1001,
            nameof(CircuitBreakerOptions.SamplingDuration) => () => options.SamplingDuration = TimeSpan.FromMilliseconds(5),
            nameof(CircuitBreakerOptions.SlowCallDuration) => () => options.SlowCallDuration = TimeSpan.Zero,
            nameof(CircuitBreakerOptions.SlowCallRatio) => () => options.SlowCallRatio = 1.01,
            nameof(CircuitBreakerOptions.ConsecutiveFailures) => () => options.ConsecutiveFailures = -1,
            nameof(CircuitBreakerOptions.BreakDuration) => () => options.BreakDuration = TimeSpan.Zero,
            nameof(CircuitBreakerOptions.BreakDurationMultiplier) => () => options.BreakDurationMultiplier = 0.5,
            nameof(CircuitBreakerOptions.MaxBreakDuration) => () => options.MaxBreakDuration = TimeSpan.FromSeconds(1),
            nameof(CircuitBreakerOptions.BreakDurationJitter) => () => options.BreakDurationJitter = 1,
            nameof(CircuitBreakerOptions.PermittedProbes) => () => options.PermittedProbes = 0,
            nameof(CircuitBreakerOptions.ProbeSuccessRatio) => () => options.ProbeSuccessRatio = double.NaN,
            _ => () => options.ProbeTimeout = TimeSpan.FromTicks(-1),
        };
        spoil();

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new Resilience.CircuitBreaker(options));

        Assert.Equal($"CircuitBreakerOptions.{option}", error.ParamName);
        Assert.Contains($"CircuitBreakerOptions.{option} {range}", error.Message, StringComparison.Ordinal);
    }
}
