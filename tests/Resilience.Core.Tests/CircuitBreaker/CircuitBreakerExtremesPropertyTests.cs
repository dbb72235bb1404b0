using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.CircuitBreaker;

/// <summary>The breaker at the edges of every option validation accepts, on a fake clock that moves by ticks and by years.</summary>
public class CircuitBreakerExtremesPropertyTests
{
    private const string Seed = "(1732050807,2236067977)";

    private static readonly TimeSpan Millisecond = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    private static readonly TimeSpan[] Steps =
    [
        TimeSpan.Zero, TimeSpan.FromTicks(1), Millisecond, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5), Day,
        TimeSpan.FromDays(13), TimeSpan.FromDays(365), TimeSpan.FromDays(365 * 20),
    ];

    private static T Pick<T>(Random random, params T[] values) => values[random.Next(values.Length)];

    /// <summary>Options at or between the ends of every range validation accepts.</summary>
    private static CircuitBreakerOptions Options(Random random, FakeTimeProvider time)
    {
        var buckets = Pick(random, 1, 2, 10, 1000);
        var breakDuration = Pick(random, Millisecond, TimeSpan.FromSeconds(5), Day);
        var probes = Pick(random, 1, 2, 10_000);
        return new CircuitBreakerOptions
        {
            FailureRatio = Pick(random, double.Epsilon, 0.5, 1),
            MinimumThroughput = Pick(random, 1, 2, 20, int.MaxValue),
            BucketCount = buckets,
            SamplingDuration = Pick(random, Millisecond * buckets, TimeSpan.FromSeconds(10) > Millisecond * buckets ? TimeSpan.FromSeconds(10) : Day, Day),
            SlowCallDuration = Pick<TimeSpan?>(random, null, Millisecond, TimeSpan.FromSeconds(1), Day),
            SlowCallRatio = Pick(random, double.Epsilon, 0.5, 1),
            ConsecutiveFailures = Pick(random, 0, 1, 3, int.MaxValue),
            BreakDuration = breakDuration,
            BreakDurationMultiplier = Pick(random, 1, 1.5, 100),
            MaxBreakDuration = Pick(random, breakDuration, Day),
            BreakDurationJitter = Pick(random, 0, 0.5, 0.9999999),
            PermittedProbes = probes,
            ProbeSuccessRatio = Pick(random, double.Epsilon, 0.7, 1),
            ProbeTimeout = Pick<TimeSpan?>(random, null, Millisecond, Day),
            JitterSeed = random.Next(),
            TimeProvider = time,
        };
    }

    /// <summary>
    /// For any options at the ends of their ranges, changed live between extremes, and any schedule of calls (successes,
    /// failures, durations from zero to <see cref="TimeSpan.MaxValue"/>) at steps from a tick to twenty years: no exception;
    /// every break is in [1 ms, the cap]; a refusal's retry-after is never negative nor longer than the longest break or
    /// probe timeout in force; figures never count more failures or slow calls than calls; and once the longest break or
    /// probe timeout has passed, a call gets through (the breaker never stays open past its break).
    /// </summary>
    [Property(MaxTest = 400, Replay = Seed)]
    public Property Every_accepted_option_keeps_the_breakers_bounds_on_any_clock(int seed)
    {
        var random = new Random(seed);

        // A clock from zero (timestamps of the year 1) as well as from today's.
        var time = random.Next(3) == 0 ? new FakeTimeProvider(DateTimeOffset.MinValue) : new FakeTimeProvider();
        var options = Options(random, time);
        var breaker = new Breaker(options);
        var longest = Longest(options);
        var failures = new List<string>();
        breaker.Opened += (_, transition) =>
        {
            if (transition.BreakDuration is not { } length || length < Millisecond || length > longest)
            {
                failures.Add($"break of {transition.BreakDuration} outside [1 ms, {longest}]");
            }
        };

        for (var operation = 0; operation < 60 && failures.Count == 0; operation++)
        {
            switch (random.Next(20))
            {
                case 0:
                    // A change may shorten the breaks from now on; one already under way keeps its length.
                    var update = Options(random, time);
                    breaker.UpdateOptions(update);
                    longest = Max(longest, Longest(update));
                    continue;
                case 1:
                    time.Advance(Pick(random, Steps));
                    continue;
                case 2:
                    time.Advance(longest + Millisecond);
                    if (breaker.State != CircuitState.Isolated && !breaker.TryAcquire(out _))
                    {
                        failures.Add($"still refused {longest + Millisecond} after the longest break or probe timeout");
                    }

                    continue;
                case 3 when random.Next(10) == 0:
                    breaker.Isolate();
                    continue;
                case 3:
                    breaker.Close();
                    continue;
            }

            time.Advance(random.Next(2) == 0 ? TimeSpan.FromMilliseconds(random.Next(3000)) : Pick(random, TimeSpan.Zero, TimeSpan.FromTicks(1), Millisecond));
            if (!breaker.TryAcquire(out var permit))
            {
                if (permit.RejectionReason == RejectionReason.BrokenCircuit
                    && (permit.RetryAfter is not { } retryAfter || retryAfter < TimeSpan.Zero || retryAfter > longest + Millisecond))
                {
                    failures.Add($"refused with retry-after {permit.RetryAfter}, outside [0, {longest + Millisecond}]");
                }

                continue;
            }

            var result = Pick(random, CircuitCallResult.Success, CircuitCallResult.Failure, CircuitCallResult.Failure, CircuitCallResult.Ignored);
            switch (random.Next(3))
            {
                case 0:
                    time.Advance(Pick(random, TimeSpan.Zero, Millisecond, TimeSpan.FromSeconds(1)));
                    breaker.Record(permit, result);
                    break;
                default:
                    breaker.Record(permit, result, Pick(random, TimeSpan.Zero, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(1), Day, TimeSpan.MaxValue));
                    break;
            }

            var snapshot = breaker.GetSnapshot();
            if (snapshot.Calls < 0 || snapshot.Failures < 0 || snapshot.SlowCalls < 0 || snapshot.Failures > snapshot.Calls || snapshot.SlowCalls > snapshot.Calls)
            {
                failures.Add($"figures {snapshot}");
            }
        }

        return (failures.Count == 0).Label(string.Join("; ", failures));
    }

    [Fact]
    public void A_break_the_clock_passed_by_decades_is_over_not_years_still_to_wait()
    {
        // The break's end is kept in 40 bits of milliseconds, compared by signed difference: 20 years past it read as
        // 14.8 years ahead, and the breaker refused every call for them.
        var time = new FakeTimeProvider();
        var breaker = new Breaker(new CircuitBreakerOptions { MinimumThroughput = 1, BreakDuration = TimeSpan.FromSeconds(5), TimeProvider = time });
        Assert.True(breaker.TryAcquire(out var permit));
        breaker.Record(permit, CircuitCallResult.Failure);
        Assert.Equal(CircuitState.Open, breaker.State);

        time.Advance(TimeSpan.FromDays(365 * 20));

        Assert.True(breaker.TryAcquire(out var probe), $"refused for {probe.RetryAfter}");
        Assert.Equal(CircuitState.HalfOpen, breaker.State);

        // Every probe slot taken: the probe timeout is measured from now, not wrapped either.
        Assert.False(breaker.TryAcquire(out var refused));
        Assert.Equal(TimeSpan.FromSeconds(5), refused.RetryAfter);
        breaker.Record(probe, CircuitCallResult.Success);
        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public void A_probe_admitted_decades_into_a_round_gets_its_whole_probe_timeout()
    {
        var time = new FakeTimeProvider();
        var breaker = new Breaker(new CircuitBreakerOptions
        {
            MinimumThroughput = 1, BreakDuration = TimeSpan.FromSeconds(5), PermittedProbes = 2, TimeProvider = time,
        });
        Assert.True(breaker.TryAcquire(out var permit));
        breaker.Record(permit, CircuitCallResult.Failure);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(breaker.TryAcquire(out _));
        Assert.Equal(CircuitState.HalfOpen, breaker.State);

        // The second probe moves the round's deadline to its own start plus the probe timeout. The deadline of 20 years
        // ago read as later than that (the signed 40-bit difference wraps), so it stayed, and the next caller found the
        // round overdue and started another under the probe that had just gone out.
        time.Advance(TimeSpan.FromDays(365 * 20));
        Assert.True(breaker.TryAcquire(out var second));
        Assert.False(breaker.TryAcquire(out var refused));
        Assert.Equal(TimeSpan.FromSeconds(5), refused.RetryAfter);
        Assert.Equal(breaker.GetSnapshot().Generation, (uint)(second.Token >>> 32));
    }

    private static TimeSpan Longest(CircuitBreakerOptions options) => Max(options.MaxBreakDuration, options.ProbeTimeout ?? options.BreakDuration);

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
