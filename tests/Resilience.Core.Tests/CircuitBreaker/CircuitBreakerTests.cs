using Microsoft.Extensions.Time.Testing;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.CircuitBreaker;

public class CircuitBreakerTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Opens_when_the_failure_ratio_reaches_its_threshold_after_the_minimum_throughput()
    {
        var breaker = Create();
        var transitions = Watch(breaker);

        Call(breaker, CircuitCallResult.Success);
        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Success);
        Assert.Equal(CircuitState.Closed, breaker.State);
        Call(breaker, CircuitCallResult.Failure);

        Assert.Equal(CircuitState.Open, breaker.State);
        var opened = Assert.Single(transitions);
        Assert.Equal((CircuitState.Closed, CircuitState.Open, CircuitTransitionReason.FailureRatio), (opened.From, opened.To, opened.Reason));
        Assert.Equal((CircuitState.Closed, 4L, 2L, 0.5), (opened.Window.State, opened.Window.Calls, opened.Window.Failures, opened.Window.FailureRatio));
        Assert.Equal(TimeSpan.FromSeconds(5), opened.BreakDuration);
        Assert.Equal(breaker.GetSnapshot().Generation, opened.Generation);
    }

    [Fact]
    public void Failures_below_the_minimum_throughput_do_not_open()
    {
        var breaker = Create();

        for (var i = 0; i < 3; i++)
        {
            Call(breaker, CircuitCallResult.Failure);
        }

        Assert.Equal(CircuitState.Closed, breaker.State);
        Assert.Equal((3L, 3L, 1.0), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures, breaker.GetSnapshot().FailureRatio));
    }

    [Fact]
    public void The_window_slides_one_bucket_at_a_time()
    {
        var breaker = Create(o => o.MinimumThroughput = 100);
        _time.Advance(TimeSpan.FromMilliseconds(500));
        for (var second = 0; second < 10; second++)
        {
            Call(breaker, CircuitCallResult.Failure);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        // Ten buckets of a second: the call of second 0 has just left, the nine others remain.
        Assert.Equal(9, breaker.GetSnapshot().Calls);
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(5, breaker.GetSnapshot().Calls);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(0, breaker.GetSnapshot().Calls);
    }

    [Fact]
    public void Open_rejects_with_the_time_left_then_admits_a_probe_after_the_break()
    {
        var breaker = Create();
        OpenIt(breaker);

        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(breaker.TryAcquire(out var rejected));
        Assert.Equal((RejectionReason.BrokenCircuit, TimeSpan.FromSeconds(3)), (rejected.RejectionReason, rejected.RetryAfter));
        Assert.False(rejected.IsAcquired);

        _time.Advance(TimeSpan.FromMilliseconds(2999));
        Assert.Equal(TimeSpan.FromMilliseconds(1), Reject(breaker).RetryAfter);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(breaker.TryAcquire(out var probe));
        Assert.True(probe.IsProbe);
        Assert.Equal(CircuitState.HalfOpen, breaker.State);
        Assert.False(breaker.TryAcquire(out _));

        breaker.Record(probe, CircuitCallResult.Success);
        Assert.Equal(CircuitState.Closed, breaker.State);
        Assert.Equal(0, breaker.GetSnapshot().Calls);
    }

    [Fact]
    public void A_break_is_never_cut_short_by_rounding_to_the_millisecond()
    {
        var breaker = Create(o => o.BreakDuration = TimeSpan.FromMilliseconds(1.5));
        _time.Advance(TimeSpan.FromTicks(3));
        OpenIt(breaker);

        _time.Advance(TimeSpan.FromTicks(14_999));
        Assert.False(breaker.TryAcquire(out _));

        // The end rounds up to the next whole millisecond of the clock: late by less than a millisecond, never early.
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.False(breaker.TryAcquire(out _));
        _time.Advance(TimeSpan.FromTicks(4_996));
        Assert.False(breaker.TryAcquire(out _));
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.True(breaker.TryAcquire(out _));
    }

    [Theory]
    [InlineData(30)]
    [InlineData(49.5)]
    [InlineData(400)]
    public void A_break_long_past_still_lets_the_next_call_probe(double days)
    {
        var breaker = Create(o => { o.ProbeTimeout = TimeSpan.FromSeconds(1); o.PermittedProbes = 2; });
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromDays(days));
        Assert.True(breaker.TryAcquire(out var hung));
        Assert.True(breaker.TryAcquire(out _));

        // A round whose probes are long overdue is given up just as surely.
        _time.Advance(TimeSpan.FromDays(days));
        Assert.True(breaker.TryAcquire(out var fresh));
        Assert.Equal(hung.Generation + 1, fresh.Generation);
    }

    [Fact]
    public void A_failed_probe_reopens_with_a_growing_capped_break_that_returns_to_base_once_closed()
    {
        var breaker = Create(o => { o.BreakDurationMultiplier = 2; o.MaxBreakDuration = TimeSpan.FromSeconds(15); });
        var breaks = new List<TimeSpan>();
        breaker.Opened += (_, t) => breaks.Add(t.BreakDuration!.Value);
        OpenIt(breaker);

        for (var i = 0; i < 3; i++)
        {
            _time.Advance(breaks[^1]);
            Call(breaker, CircuitCallResult.Failure);
            Assert.Equal(CircuitState.Open, breaker.State);
        }

        _time.Advance(breaks[^1] - TimeSpan.FromMilliseconds(1));
        Assert.Equal(TimeSpan.FromMilliseconds(1), Reject(breaker).RetryAfter);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Call(breaker, CircuitCallResult.Success);
        OpenIt(breaker);

        Assert.Equal([5, 10, 15, 15, 5], breaks.Select(b => b.TotalSeconds));
    }

    [Fact]
    public void Jitter_spreads_breaks_within_bounds_and_the_cap_and_is_reproducible_from_its_seed()
    {
        List<double> Run(int seed)
        {
            var breaker = Create(o => { o.BreakDurationJitter = 0.2; o.JitterSeed = seed; o.MaxBreakDuration = TimeSpan.FromSeconds(5.5); });
            var breaks = new List<double>();
            breaker.Opened += (_, t) => breaks.Add(t.BreakDuration!.Value.TotalSeconds);
            for (var i = 0; i < 40; i++)
            {
                OpenIt(breaker);
                breaker.Close();
            }

            return breaks;
        }

        var first = Run(7);

        Assert.All(first, b => Assert.InRange(b, 4.0, 5.5));
        Assert.Contains(first, b => b < 4.5);
        Assert.Contains(first, b => b == 5.5);
        Assert.Equal(first, Run(7));
        Assert.NotEqual(first, Run(8));
    }

    [Fact]
    public void Several_probes_close_on_the_success_ratio_and_reopen_once_it_cannot_be_reached()
    {
        var breaker = Create(o => { o.PermittedProbes = 4; o.ProbeSuccessRatio = 0.75; });
        var transitions = Watch(breaker);
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));

        var probes = AcquireAll(breaker, 4);
        Assert.All(probes, p => Assert.True(p.IsProbe));
        Assert.False(breaker.TryAcquire(out _));
        breaker.Record(probes[0], CircuitCallResult.Failure);
        breaker.Record(probes[1], CircuitCallResult.Success);
        breaker.Record(probes[2], CircuitCallResult.Success);
        Assert.Equal((CircuitState.HalfOpen, 3L, 1L), (breaker.GetSnapshot().State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
        breaker.Record(probes[3], CircuitCallResult.Success);
        Assert.Equal(CircuitState.Closed, breaker.State);
        Assert.Equal((CircuitTransitionReason.ProbesSucceeded, 4L, 1L), (transitions[^1].Reason, transitions[^1].Window.Calls, transitions[^1].Window.Failures));

        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        var second = AcquireAll(breaker, 4);
        breaker.Record(second[0], CircuitCallResult.Failure);
        Assert.Equal(CircuitState.HalfOpen, breaker.State);
        breaker.Record(second[1], CircuitCallResult.Failure);
        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Equal((CircuitTransitionReason.ProbeFailed, 2L, 2L), (transitions[^1].Reason, transitions[^1].Window.Calls, transitions[^1].Window.Failures));
    }

    [Fact]
    public void An_ignored_probe_frees_its_slot_for_another_probe_of_the_same_round()
    {
        var breaker = Create();
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(breaker.TryAcquire(out var probe));

        breaker.Record(probe, CircuitCallResult.Ignored);

        Assert.True(breaker.TryAcquire(out var next));
        Assert.True(next.IsProbe);
        Assert.Equal(probe.Generation, next.Generation);
        Assert.False(breaker.TryAcquire(out _));
    }

    [Fact]
    public void A_hung_probe_gives_its_slot_to_a_new_probe_after_the_probe_timeout_and_its_late_result_is_ignored()
    {
        var breaker = Create(o => o.ProbeTimeout = TimeSpan.FromSeconds(1));
        var transitions = Watch(breaker);
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(breaker.TryAcquire(out var hung));

        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(TimeSpan.FromMilliseconds(1), Reject(breaker).RetryAfter);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(breaker.TryAcquire(out var fresh));

        Assert.True(fresh.IsProbe);
        Assert.Equal(hung.Generation + 1, fresh.Generation);
        Assert.Equal((CircuitState.HalfOpen, CircuitState.HalfOpen, CircuitTransitionReason.ProbeTimedOut), (transitions[^1].From, transitions[^1].To, transitions[^1].Reason));
        breaker.Record(hung, CircuitCallResult.Failure);
        Assert.Equal((CircuitState.HalfOpen, 0L), (breaker.State, breaker.GetSnapshot().Calls));
        breaker.Record(fresh, CircuitCallResult.Success);
        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public void A_break_is_kept_after_millions_of_transitions_that_wrote_no_break_end()
    {
        // The break's end carries 24 bits of its generation. Resets that write no break end (here Isolate and Close)
        // move the generation on; once half the 24-bit range has passed, the word left by the last break looks newer
        // than the next break and must still be replaced by it.
        var breaker = Create();
        OpenIt(breaker);
        ForceTransitions(breaker, HalfTimeGenerationRange + 8);

        OpenIt(breaker);
        var rejected = Reject(breaker);
        Assert.Equal((RejectionReason.BrokenCircuit, TimeSpan.FromSeconds(5)), (rejected.RejectionReason, rejected.RetryAfter));
        Assert.Equal(CircuitState.Open, breaker.State);
    }

    [Fact]
    public void A_probe_round_keeps_its_probe_timeout_after_millions_of_transitions_that_wrote_no_deadline()
    {
        var breaker = Create(o => o.ProbeTimeout = TimeSpan.FromSeconds(1));
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(breaker.TryAcquire(out var earlier));
        breaker.Record(earlier, CircuitCallResult.Success);
        ForceTransitions(breaker, HalfTimeGenerationRange + 8);

        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(breaker.TryAcquire(out var probe));
        Assert.True(probe.IsProbe);

        // The only slot is taken and the probe has run for no time: the next caller waits the whole probe timeout.
        Assert.Equal(TimeSpan.FromSeconds(1), Reject(breaker).RetryAfter);
        Assert.Equal(probe.Generation, breaker.GetSnapshot().Generation);
    }

    [Fact]
    public void The_probe_timeout_runs_from_the_newest_probe_so_no_probe_is_given_up_before_its_time()
    {
        var breaker = Create(o => { o.PermittedProbes = 2; o.ProbeTimeout = TimeSpan.FromSeconds(1); });
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(breaker.TryAcquire(out var first));
        _time.Advance(TimeSpan.FromMilliseconds(800));
        Assert.True(breaker.TryAcquire(out var second));

        // The first probe has run for its timeout, but the second only for 200 ms: the round goes on.
        _time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal(TimeSpan.FromMilliseconds(800), Reject(breaker).RetryAfter);
        breaker.Record(second, CircuitCallResult.Success);
        breaker.Record(first, CircuitCallResult.Success);

        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public void A_late_result_from_an_older_generation_is_not_counted()
    {
        var breaker = Create();
        Assert.True(breaker.TryAcquire(out var late));
        OpenIt(breaker);
        breaker.Close();

        breaker.Record(late, CircuitCallResult.Failure);

        Assert.Equal(0, breaker.GetSnapshot().Calls);
        Assert.NotEqual(late.Generation, breaker.GetSnapshot().Generation);
    }

    [Fact]
    public void A_late_closed_result_neither_consumes_nor_releases_a_probe()
    {
        var breaker = Create();
        Assert.True(breaker.TryAcquire(out var lateSuccess));
        Assert.True(breaker.TryAcquire(out var lateIgnored));
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(breaker.TryAcquire(out var probe));

        breaker.Record(lateSuccess, CircuitCallResult.Success);
        breaker.Record(lateIgnored, CircuitCallResult.Ignored);
        Assert.Equal(CircuitState.HalfOpen, breaker.State);
        Assert.False(breaker.TryAcquire(out _));
        breaker.Record(probe, CircuitCallResult.Success);

        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public void A_late_probe_of_a_timed_out_round_does_not_touch_the_new_rounds_results()
    {
        var breaker = Create(o => { o.PermittedProbes = 2; o.ProbeTimeout = TimeSpan.FromSeconds(1); });
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        var old = AcquireAll(breaker, 2);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(breaker.TryAcquire(out var fresh));
        breaker.Record(fresh, CircuitCallResult.Success);

        breaker.Record(old[0], CircuitCallResult.Failure);
        breaker.Record(old[1], CircuitCallResult.Failure);

        Assert.Equal((CircuitState.HalfOpen, 1L, 0L), (breaker.GetSnapshot().State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
        Assert.True(breaker.TryAcquire(out var last));
        breaker.Record(last, CircuitCallResult.Success);
        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public void Slow_calls_open_the_breaker_on_the_slow_call_ratio_whatever_their_result()
    {
        var breaker = Create(o => { o.SlowCallDuration = TimeSpan.FromMilliseconds(200); o.SlowCallRatio = 0.5; });
        var transitions = Watch(breaker);

        for (var i = 0; i < 4; i++)
        {
            Assert.True(breaker.TryAcquire(out var permit));
            _time.Advance(TimeSpan.FromMilliseconds(i % 2 == 0 ? 199 : 200));
            breaker.Record(permit, CircuitCallResult.Success);
        }

        Assert.Equal(CircuitState.Open, breaker.State);
        var opened = Assert.Single(transitions);
        Assert.Equal(CircuitTransitionReason.SlowCallRatio, opened.Reason);
        Assert.Equal((4L, 0L, 2L, 0.5), (opened.Window.Calls, opened.Window.Failures, opened.Window.SlowCalls, opened.Window.SlowCallRatio));
    }

    [Fact]
    public void A_duration_reported_by_the_caller_decides_slowness_exactly()
    {
        var breaker = Create(o => { o.SlowCallDuration = TimeSpan.FromMilliseconds(200); o.MinimumThroughput = 100; });

        Assert.True(breaker.TryAcquire(out var fast));
        breaker.Record(fast, CircuitCallResult.Success, TimeSpan.FromTicks(1_999_999));
        Assert.True(breaker.TryAcquire(out var slow));
        breaker.Record(slow, CircuitCallResult.Failure, TimeSpan.FromMilliseconds(200));

        Assert.Equal((2L, 1L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures, breaker.GetSnapshot().SlowCalls));
    }

    [Fact]
    public void A_measured_call_never_escapes_a_slow_call_duration_that_is_not_a_whole_number_of_milliseconds()
    {
        // 100.5 ms. The breaker measures whole milliseconds between its truncated ends: a call of 100.7 ms that starts
        // 0.1 ms past a millisecond measures 100 ms, which must not let it escape.
        var breaker = Create(o => { o.SlowCallDuration = TimeSpan.FromTicks(1_005_000); o.MinimumThroughput = 100; });
        _time.Advance(TimeSpan.FromTicks(1_000));
        Assert.True(breaker.TryAcquire(out var slow));
        _time.Advance(TimeSpan.FromTicks(1_007_000));
        breaker.Record(slow, CircuitCallResult.Success);
        Assert.Equal(1L, breaker.GetSnapshot().SlowCalls);

        // A call of 99.9 ms from a whole millisecond measures 99 whole milliseconds, below the duration rounded down: not slow.
        _time.Advance(TimeSpan.FromTicks(2_000));
        Assert.True(breaker.TryAcquire(out var fast));
        _time.Advance(TimeSpan.FromTicks(999_000));
        breaker.Record(fast, CircuitCallResult.Success);
        Assert.Equal((2L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().SlowCalls));
    }

    [Fact]
    public void A_call_started_when_its_start_stamp_wraps_to_zero_does_not_escape_the_slow_call_duration()
    {
        // A permit keeps its start in 30 bits of milliseconds, and 0 means "untimed": a start whose stamp wraps to 0
        // (every 2^30 ms, about 12 days) must still measure a call of exactly the slow-call duration as slow.
        var time = new FakeTimeProvider(new DateTimeOffset((1L << 30) * 2 * TimeSpan.TicksPerMillisecond, TimeSpan.Zero));
        time.Advance(TimeSpan.FromTicks(3_000));
        var breaker = new Breaker(new CircuitBreakerOptions { MinimumThroughput = 100, SlowCallDuration = TimeSpan.FromMilliseconds(100), TimeProvider = time });

        Assert.True(breaker.TryAcquire(out var permit));
        time.Advance(TimeSpan.FromMilliseconds(100));
        breaker.Record(permit, CircuitCallResult.Success);

        Assert.Equal((1L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().SlowCalls));
    }

    [Fact]
    public void Without_slow_call_tracking_durations_are_not_counted()
    {
        var breaker = Create(o => o.MinimumThroughput = 100);

        Assert.True(breaker.TryAcquire(out var permit));
        breaker.Record(permit, CircuitCallResult.Success, TimeSpan.FromHours(1));

        Assert.Equal((1L, 0L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().SlowCalls));
    }

    [Fact]
    public void A_slow_probe_counts_as_a_failed_probe()
    {
        var breaker = Create(o => { o.SlowCallDuration = TimeSpan.FromSeconds(1); o.SlowCallRatio = 1; });
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        var transitions = Watch(breaker);
        Assert.True(breaker.TryAcquire(out var probe));

        _time.Advance(TimeSpan.FromSeconds(1));
        breaker.Record(probe, CircuitCallResult.Success);

        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Equal(CircuitTransitionReason.ProbeFailed, transitions[^1].Reason);
    }

    [Fact]
    public void Consecutive_failures_open_below_the_minimum_throughput_and_a_success_ends_the_run()
    {
        var breaker = Create(o => { o.ConsecutiveFailures = 3; o.MinimumThroughput = 1000; });
        var transitions = Watch(breaker);

        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Success);
        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Ignored);
        Call(breaker, CircuitCallResult.Failure);
        Assert.Equal(CircuitState.Closed, breaker.State);
        Call(breaker, CircuitCallResult.Failure);

        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Equal((CircuitTransitionReason.ConsecutiveFailures, 6L, 5L), (transitions[^1].Reason, transitions[^1].Window.Calls, transitions[^1].Window.Failures));
    }

    [Fact]
    public void A_run_of_failures_starts_again_after_the_breaker_closes()
    {
        var breaker = Create(o => { o.ConsecutiveFailures = 2; o.MinimumThroughput = 1000; });
        Call(breaker, CircuitCallResult.Failure);
        breaker.Close();

        Call(breaker, CircuitCallResult.Failure);

        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public void Isolate_holds_the_breaker_open_until_close_which_resets_it()
    {
        var breaker = Create(o => o.MinimumThroughput = 100);
        Call(breaker, CircuitCallResult.Failure);
        var transitions = Watch(breaker);

        breaker.Isolate();
        breaker.Isolate();
        _time.Advance(TimeSpan.FromHours(1));
        Assert.False(breaker.TryAcquire(out var rejected));
        breaker.Close();

        Assert.Equal((RejectionReason.IsolatedCircuit, (TimeSpan?)null), (rejected.RejectionReason, rejected.RetryAfter));
        Assert.True(breaker.TryAcquire(out _));
        Assert.Equal([(CircuitState.Closed, CircuitState.Isolated), (CircuitState.Isolated, CircuitState.Closed)], transitions.Select(t => (t.From, t.To)));
        Assert.All(transitions, t => Assert.Equal(CircuitTransitionReason.Manual, t.Reason));
        Assert.Equal(1, transitions[0].Window.Calls);
        Assert.Contains("Isolated -> Closed", transitions[1].ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Close_resets_the_window_and_the_grown_break()
    {
        var breaker = Create(o => { o.BreakDurationMultiplier = 3; o.MinimumThroughput = 4; });
        var breaks = new List<TimeSpan>();
        breaker.Opened += (_, t) => breaks.Add(t.BreakDuration!.Value);
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Failure, admitted: false);

        breaker.Close();
        Call(breaker, CircuitCallResult.Failure);
        Assert.Equal(1, breaker.GetSnapshot().Calls);
        OpenIt(breaker);

        Assert.Equal([5, 15, 5], breaks.Select(b => b.TotalSeconds));
    }

    [Fact]
    public void Each_state_has_its_event_raised_before_the_general_one()
    {
        var breaker = Create();
        var seen = new List<string>();
        breaker.Opened += (_, t) => seen.Add($"opened {t.To}");
        breaker.HalfOpened += (_, t) => seen.Add($"half-opened {t.To}");
        breaker.Closed += (_, t) => seen.Add($"closed {t.To}");
        breaker.Isolated += (_, t) => seen.Add($"isolated {t.To}");
        breaker.Transitioned += (sender, t) => seen.Add($"any {t.To} from {((Breaker)sender!).Name}");

        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));
        Call(breaker, CircuitCallResult.Success);
        breaker.Isolate();

        Assert.Equal(
            ["opened Open", "any Open from CircuitBreaker", "half-opened HalfOpen", "any HalfOpen from CircuitBreaker", "closed Closed", "any Closed from CircuitBreaker", "isolated Isolated", "any Isolated from CircuitBreaker"],
            seen);
    }

    [Fact]
    public void A_throwing_handler_keeps_the_other_handlers_and_the_exception_reaches_the_caller_once_they_ran()
    {
        var breaker = Create();
        var seen = new List<string>();
        breaker.Transitioned += (_, t) => seen.Add($"first {t.To}");
        breaker.Opened += (_, _) => throw new InvalidOperationException("opened");
        breaker.Transitioned += (_, _) => throw new InvalidOperationException("any");
        breaker.Transitioned += (_, t) => seen.Add($"last {t.To}");

        Assert.True(breaker.TryAcquire(out var permit));
        for (var i = 0; i < 3; i++)
        {
            Call(breaker, CircuitCallResult.Failure);
        }

        var thrown = Assert.Throws<InvalidOperationException>(() => breaker.Record(permit, CircuitCallResult.Failure));

        // The transition took effect and every other handler (telemetry listens to Transitioned) saw it once.
        Assert.Equal("opened", thrown.Message);
        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Equal(["first Open", "last Open"], seen);
    }

    [Fact]
    public void A_half_opened_handler_that_throws_does_not_keep_the_probe_slot_of_the_caller_it_failed()
    {
        var breaker = Create(o => o.ProbeTimeout = TimeSpan.FromMinutes(1));
        var failing = true;
        breaker.HalfOpened += (_, _) =>
        {
            if (failing)
            {
                throw new InvalidOperationException("half-opened");
            }
        };
        OpenIt(breaker);
        _time.Advance(TimeSpan.FromSeconds(5));

        Assert.Throws<InvalidOperationException>(() => breaker.TryAcquire(out _));
        failing = false;

        // The caller got the exception, not a permit: its slot is the next caller's, not held until the probe timeout.
        Assert.Equal(CircuitState.HalfOpen, breaker.State);
        Assert.True(breaker.TryAcquire(out var probe));
        Assert.True(probe.IsProbe);
        breaker.Record(probe, CircuitCallResult.Success);
        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public void Calls_allocate_nothing_closed_open_or_isolated()
    {
        var breaker = Create(o => o.MinimumThroughput = int.MaxValue);
        var open = Create();
        OpenIt(open);
        var isolated = Create();
        isolated.Isolate();
        void Run()
        {
            for (var i = 0; i < 1000; i++)
            {
                breaker.TryAcquire(out var permit);
                breaker.Record(permit, i % 2 == 0 ? CircuitCallResult.Success : CircuitCallResult.Failure);
                open.TryAcquire(out var refused);
                open.Record(refused, CircuitCallResult.Success);
                isolated.TryAcquire(out _);
            }
        }

        Run();
        var before = GC.GetAllocatedBytesForCurrentThread();
        Run();

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
        Assert.Equal(2000, breaker.GetSnapshot().Calls);
    }

    [Fact]
    public void A_permit_that_was_not_acquired_records_nothing()
    {
        var breaker = Create(o => o.MinimumThroughput = 1);

        breaker.Record(default, CircuitCallResult.Failure);
        Assert.False(default(CircuitPermit).IsAcquired);
        breaker.Isolate();
        Assert.False(breaker.TryAcquire(out var refused));
        breaker.Close();
        breaker.Record(refused, CircuitCallResult.Failure);

        Assert.Equal((CircuitState.Closed, 0L), (breaker.State, breaker.GetSnapshot().Calls));
    }

    [Fact]
    public void Record_refuses_an_unknown_result_and_a_negative_duration()
    {
        var breaker = Create();
        Assert.True(breaker.TryAcquire(out var permit));

        Assert.Throws<ArgumentOutOfRangeException>(() => breaker.Record(permit, (CircuitCallResult)3));
        Assert.Throws<ArgumentOutOfRangeException>(() => breaker.Record(permit, CircuitCallResult.Success, TimeSpan.FromTicks(-1)));
        Assert.Equal(0, breaker.GetSnapshot().Calls);
    }

    [Fact]
    public void Update_options_keeps_state_window_and_generation_and_applies_new_thresholds()
    {
        var breaker = Create(o => o.MinimumThroughput = 100);
        for (var i = 0; i < 6; i++)
        {
            Call(breaker, CircuitCallResult.Failure);
        }

        var generation = breaker.GetSnapshot().Generation;
        breaker.UpdateOptions(new CircuitBreakerOptions { MinimumThroughput = 7, FailureRatio = 0.5, TimeProvider = _time });
        Assert.Equal((CircuitState.Closed, 6L, generation), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Generation));
        Call(breaker, CircuitCallResult.Failure);
        Assert.Equal(CircuitState.Open, breaker.State);

        breaker.UpdateOptions(new CircuitBreakerOptions { BreakDuration = TimeSpan.FromSeconds(1), PermittedProbes = 2, TimeProvider = _time });
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(2, AcquireAll(breaker, 2).Count);
        Assert.Equal(2, breaker.Options.PermittedProbes);
    }

    [Fact]
    public void Turning_the_consecutive_failures_trigger_back_on_does_not_resume_a_run_that_successes_ended_while_it_was_off()
    {
        var breaker = Create(o => { o.ConsecutiveFailures = 3; o.MinimumThroughput = 100; });
        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Failure);
        var options = breaker.Options;
        options.ConsecutiveFailures = 0;
        breaker.UpdateOptions(options);
        Call(breaker, CircuitCallResult.Success);
        options.ConsecutiveFailures = 3;
        breaker.UpdateOptions(options);

        // Failure, failure, success, failure: no three in a row.
        Call(breaker, CircuitCallResult.Failure);
        Assert.Equal(CircuitState.Closed, breaker.State);
        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Failure);
        Assert.Equal(CircuitState.Open, breaker.State);
    }

    [Fact]
    public void A_longer_window_with_the_same_bucket_length_keeps_every_count()
    {
        var breaker = Create(o => o.MinimumThroughput = 100);
        _time.Advance(TimeSpan.FromMilliseconds(500));
        for (var second = 0; second < 5; second++)
        {
            Call(breaker, CircuitCallResult.Failure);
            Call(breaker, CircuitCallResult.Success);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        breaker.UpdateOptions(new CircuitBreakerOptions { MinimumThroughput = 100, SamplingDuration = TimeSpan.FromSeconds(20), BucketCount = 20, TimeProvider = _time });

        Assert.Equal((10L, 5L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(10, breaker.GetSnapshot().Calls);
        _time.Advance(TimeSpan.FromSeconds(7));
        Assert.Equal(2, breaker.GetSnapshot().Calls);
    }

    [Fact]
    public void A_reshaped_window_keeps_the_counts_that_fit_and_drops_older_ones()
    {
        var breaker = Create(o => o.MinimumThroughput = 100);
        _time.Advance(TimeSpan.FromMilliseconds(500));
        for (var second = 0; second < 10; second++)
        {
            Call(breaker, CircuitCallResult.Failure);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        // Now 10.5 s. Four buckets of 500 ms cover [9 s, 11 s): only the call made at 9.5 s fits.
        breaker.UpdateOptions(new CircuitBreakerOptions { MinimumThroughput = 100, SamplingDuration = TimeSpan.FromSeconds(2), BucketCount = 4, TimeProvider = _time });
        Assert.Equal((1L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
        Call(breaker, CircuitCallResult.Success);
        Assert.Equal((2L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));

        // Three buckets of 4 s: both counts are kept, moved to the bucket that holds their old bucket's end.
        breaker.UpdateOptions(new CircuitBreakerOptions { MinimumThroughput = 100, SamplingDuration = TimeSpan.FromSeconds(12), BucketCount = 3, TimeProvider = _time });
        Assert.Equal((2L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public void An_invalid_update_is_rejected_as_a_whole()
    {
        var breaker = Create();

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => breaker.UpdateOptions(new CircuitBreakerOptions { MinimumThroughput = 2, FailureRatio = 1.5 }));

        Assert.Equal(4, breaker.Options.MinimumThroughput);
        Assert.Equal("CircuitBreakerOptions.FailureRatio must be in (0, 1]; was 1.5. (Parameter 'CircuitBreakerOptions.FailureRatio')", error.Message);
    }

    [Fact]
    public void Options_are_copied_so_later_changes_do_not_reach_the_breaker()
    {
        var options = new CircuitBreakerOptions { Name = "payments", MinimumThroughput = 2, TimeProvider = _time };
        var breaker = new Breaker(options);

        options.MinimumThroughput = 0;
        breaker.Options.MinimumThroughput = 0;

        Assert.Equal(2, breaker.Options.MinimumThroughput);
        Assert.Equal("payments (Closed)", breaker.ToString());
    }

    [Fact]
    public void The_options_in_force_keep_the_name_clock_and_seed_fixed_at_construction_after_an_update()
    {
        var breaker = new Breaker(new CircuitBreakerOptions { Name = "payments", JitterSeed = 7, TimeProvider = _time });

        breaker.UpdateOptions(new CircuitBreakerOptions { Name = "refunds", JitterSeed = 8, MinimumThroughput = 3 });

        var options = breaker.Options;
        Assert.Equal(("payments", 7, (TimeProvider?)_time, 3), (options.Name, options.JitterSeed, options.TimeProvider, options.MinimumThroughput));
        Assert.Equal("payments", breaker.Name);
    }

    [Theory]
    [InlineData(nameof(CircuitBreakerOptions.FailureRatio), "must be in (0, 1]; was 0.")]
    [InlineData(nameof(CircuitBreakerOptions.MinimumThroughput), "must be in [1, 2147483647]; was 0.")]
    [InlineData(nameof(CircuitBreakerOptions.BucketCount), "must be in [1, 1000]; was 1001.")]
    [InlineData(nameof(CircuitBreakerOptions.SamplingDuration), "must be in [00:00:00.0100000, 1.00:00:00]; was 00:00:00.0050000.")]
    [InlineData(nameof(CircuitBreakerOptions.SlowCallDuration), "must be in [00:00:00.0010000, 1.00:00:00]; was 00:00:00.")]
    [InlineData(nameof(CircuitBreakerOptions.SlowCallRatio), "must be in (0, 1]; was 1.01.")]
    [InlineData(nameof(CircuitBreakerOptions.ConsecutiveFailures), "must be in [0, 2147483647]; was -1.")]
    [InlineData(nameof(CircuitBreakerOptions.BreakDuration), "must be in [00:00:00.0010000, 1.00:00:00]; was 00:00:00.")]
    [InlineData(nameof(CircuitBreakerOptions.BreakDurationMultiplier), "must be in [1, 100]; was 0.5.")]
    [InlineData(nameof(CircuitBreakerOptions.MaxBreakDuration), "must be in [00:00:05, 1.00:00:00]; was 00:00:01.")]
    [InlineData(nameof(CircuitBreakerOptions.BreakDurationJitter), "must be in [0, 1); was 1.")]
    [InlineData(nameof(CircuitBreakerOptions.PermittedProbes), "must be in [1, 10000]; was 0.")]
    [InlineData(nameof(CircuitBreakerOptions.ProbeSuccessRatio), "must be in (0, 1]; was NaN.")]
    [InlineData(nameof(CircuitBreakerOptions.ProbeTimeout), "must be in [00:00:00.0010000, 1.00:00:00]; was 2.00:00:00.")]
    public void Validation_names_the_option_its_range_and_the_value(string option, string rule)
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
            _ => () => options.ProbeTimeout = TimeSpan.FromDays(2),
        };
        spoil();

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new Breaker(options));

        Assert.Equal($"CircuitBreakerOptions.{option}", error.ParamName);
        Assert.StartsWith($"CircuitBreakerOptions.{option} {rule}", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
    }

    [Fact]
    public void Default_options_are_valid_and_off_by_default_where_documented()
    {
        var options = new CircuitBreakerOptions();

        options.Validate();

        Assert.Equal((0.5, 20, TimeSpan.FromSeconds(10), 10), (options.FailureRatio, options.MinimumThroughput, options.SamplingDuration, options.BucketCount));
        Assert.Equal(((TimeSpan?)null, 0, TimeSpan.FromSeconds(5), 1, 1.0), (options.SlowCallDuration, options.ConsecutiveFailures, options.BreakDuration, options.PermittedProbes, options.ProbeSuccessRatio));
        Assert.Equal(nameof(CircuitBreaker), new Breaker(options).Name);
    }

    // Half the range of the generation bits a time word carries (2^24).
    private const int HalfTimeGenerationRange = 1 << 23;

    /// <summary>Moves the generation on by at least <paramref name="count"/> with Isolate and Close, ending closed.</summary>
    private static void ForceTransitions(Breaker breaker, int count)
    {
        for (var i = 0; i < count; i += 2)
        {
            breaker.Isolate();
            breaker.Close();
        }

        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    private Breaker Create(Action<CircuitBreakerOptions>? configure = null)
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
        return new Breaker(options);
    }

    private static List<CircuitTransition> Watch(Breaker breaker)
    {
        var transitions = new List<CircuitTransition>();
        breaker.Transitioned += (_, t) => transitions.Add(t);
        return transitions;
    }

    private static void Call(Breaker breaker, CircuitCallResult result, bool admitted = true)
    {
        Assert.Equal(admitted, breaker.TryAcquire(out var permit));
        breaker.Record(permit, result);
    }

    private static CircuitPermit Reject(Breaker breaker)
    {
        Assert.False(breaker.TryAcquire(out var permit));
        return permit;
    }

    private static List<CircuitPermit> AcquireAll(Breaker breaker, int count)
    {
        var permits = new List<CircuitPermit>();
        for (var i = 0; i < count; i++)
        {
            Assert.True(breaker.TryAcquire(out var permit));
            permits.Add(permit);
        }

        return permits;
    }

    private static void OpenIt(Breaker breaker)
    {
        // Bounded: a breaker that never opens fails the test instead of hanging it.
        for (var i = 0; i < 10_000 && breaker.State == CircuitState.Closed; i++)
        {
            Call(breaker, CircuitCallResult.Failure);
        }

        Assert.Equal(CircuitState.Open, breaker.State);
    }
}
