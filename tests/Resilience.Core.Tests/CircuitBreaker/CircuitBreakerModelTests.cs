using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.CircuitBreaker;

/// <summary>
/// Model-based test: random scripts of calls (success, failure, slow, cancelled), time advances, probes held open
/// concurrently and completed later, and manual commands run against the breaker and the reference model; the state,
/// the generation, every admit/reject decision and the window's figures must agree at every step.
/// </summary>
public class CircuitBreakerModelTests
{
    private static CircuitBreakerOptions Options(FakeTimeProvider time) => new()
    {
        FailureRatio = 0.5,
        MinimumThroughput = 4,
        SamplingDuration = TimeSpan.FromSeconds(1),
        BucketCount = 4,
        SlowCallDuration = TimeSpan.FromMilliseconds(100),
        SlowCallRatio = 0.75,
        ConsecutiveFailures = 3,
        BreakDuration = TimeSpan.FromMilliseconds(500),
        BreakDurationMultiplier = 2,
        MaxBreakDuration = TimeSpan.FromSeconds(2),
        PermittedProbes = 2,
        ProbeSuccessRatio = 0.5,
        ProbeTimeout = TimeSpan.FromMilliseconds(300),
        TimeProvider = time,
    };

    [Property(MaxTest = 1000, EndSize = 120, Replay = "(3125702137,2986349813)")]
    public Property Breaker_agrees_with_the_reference_model(int[] script)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var options = Options(time);
        var breaker = new Resilience.CircuitBreaker(options);
        var model = new BreakerModel(options);
        var held = new List<(CircuitPermit Permit, uint Generation, bool Probe, long Start)>();
        var step = 0;

        foreach (var raw in script)
        {
            step++;
            var command = (int)((uint)raw % 9);
            var argument = (int)((uint)raw / 9 % 400);
            var now = time.GetTimestamp();
            switch (command)
            {
                case 0:
                case 1:
                case 2:
                case 3:
                    {
                        // A call that takes `duration` and ends with a result.
                        var result = command switch { 0 or 1 => CircuitCallResult.Success, 2 => CircuitCallResult.Failure, _ => CircuitCallResult.Ignored };
                        var permit = breaker.TryAcquire();
                        var expected = model.Acquire(now);
                        if (permit.IsAcquired != expected.Admitted)
                        {
                            return Fail(step, $"admit {permit.IsAcquired} vs model {expected.Admitted} in {model.State}");
                        }

                        var duration = TimeSpan.FromMilliseconds(argument % 2 == 0 ? 10 : 150);
                        time.Advance(duration);
                        if (permit.IsAcquired)
                        {
                            breaker.Record(permit, result);
                            model.Record(expected.Generation, expected.Probe, result, now, time.GetTimestamp());
                        }

                        break;
                    }

                case 4:
                    time.Advance(TimeSpan.FromMilliseconds(argument));
                    break;

                case 5:
                    {
                        // A call that stays in flight (a concurrent probe or a slow caller).
                        var permit = breaker.TryAcquire();
                        var expected = model.Acquire(now);
                        if (permit.IsAcquired != expected.Admitted)
                        {
                            return Fail(step, $"held admit {permit.IsAcquired} vs model {expected.Admitted}");
                        }

                        if (permit.IsAcquired)
                        {
                            held.Add((permit, expected.Generation, expected.Probe, now));
                        }

                        break;
                    }

                case 6:
                    if (held.Count > 0)
                    {
                        // A held call completes, possibly in a later generation than it started.
                        var (permit, generation, probe, start) = held[argument % held.Count];
                        held.RemoveAt(argument % held.Count);
                        var result = (CircuitCallResult)(argument % 3);
                        breaker.Record(permit, result);
                        model.Record(generation, probe, result, start, now);
                    }

                    break;

                case 7:
                    if (argument % 4 == 0)
                    {
                        breaker.Isolate();
                        model.Isolate();
                    }
                    else if (argument % 4 == 1)
                    {
                        breaker.Close();
                        model.Close();
                    }

                    break;

                default:
                    time.Advance(TimeSpan.FromMilliseconds(argument * 5));
                    break;
            }

            var snapshot = breaker.GetSnapshot();
            var window = model.Window(time.GetTimestamp());
            if (snapshot.State != model.State || snapshot.Generation != model.Generation)
            {
                return Fail(step, $"state {snapshot.State}/{snapshot.Generation} vs model {model.State}/{model.Generation}");
            }

            if (snapshot.State == CircuitState.Closed && (snapshot.Calls, snapshot.Failures, snapshot.SlowCalls) != window)
            {
                return Fail(step, $"window {(snapshot.Calls, snapshot.Failures, snapshot.SlowCalls)} vs model {window}");
            }
        }

        return true.ToProperty();
    }

    private static Property Fail(int step, string why) => false.Label($"step {step}: {why}");
}
