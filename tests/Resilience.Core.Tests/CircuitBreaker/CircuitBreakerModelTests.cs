using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.CircuitBreaker;

/// <summary>
/// Model-based test: random scripts of calls (success, failure, slow, ignored), time advances, calls held in flight
/// (concurrent probes, slow callers) and completed later, manual commands and live option changes (some reshaping the
/// window) run against the breaker and the reference model; the state, the generation, every admit/reject decision with
/// its retry-after, the figures (window while closed, probe results while half-open) and every transition raised
/// (reason, generation, break, figures of the state left) must agree at every step. Some calls report a duration they
/// measured themselves; others go through a pipeline on the same breaker (a failure throws, an ignored call is the
/// caller's cancellation), which must decide as the standalone face does.
/// </summary>
public class CircuitBreakerModelTests
{
    private static CircuitBreakerOptions First(FakeTimeProvider time) => new()
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

    // Same window shape, other thresholds: slow-call tracking and the consecutive trigger off, three probes.
    private static CircuitBreakerOptions Second(FakeTimeProvider time) => new()
    {
        FailureRatio = 0.75,
        MinimumThroughput = 3,
        SamplingDuration = TimeSpan.FromSeconds(1),
        BucketCount = 4,
        BreakDuration = TimeSpan.FromMilliseconds(400),
        BreakDurationMultiplier = 1.5,
        MaxBreakDuration = TimeSpan.FromSeconds(2),
        PermittedProbes = 3,
        ProbeSuccessRatio = 0.67,
        TimeProvider = time,
    };

    // Another window shape (three buckets of 400 ms, their boundaries off the first shape's): counts move between them.
    private static CircuitBreakerOptions Third(FakeTimeProvider time)
    {
        var options = First(time);
        options.SamplingDuration = TimeSpan.FromMilliseconds(1200);
        options.BucketCount = 3;
        options.MinimumThroughput = 3;
        return options;
    }

    // Each step is a number in [0, 4000): its last digit picks the command, the rest (0-399) is its argument.
    [Property(MaxTest = 1000, EndSize = 150, Replay = "(12896638363249786144,9991333707538043243)")]
    public Property Breaker_agrees_with_the_reference_model() =>
        Prop.ForAll(Gen.Choose(0, 3999).ArrayOf().ToArbitrary(), Run);

    private static Property Run(int[] script)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var breaker = new Breaker(First(time));
        var model = new BreakerModel(First(time));
        var raised = new List<(CircuitState, CircuitState, CircuitTransitionReason, uint, long, long, long, TimeSpan?)>();
        breaker.Transitioned += (_, t) => raised.Add((t.From, t.To, t.Reason, t.Generation, t.Window.Calls, t.Window.Failures, t.Window.SlowCalls, t.BreakDuration));
        var held = new List<(CircuitPermit Permit, uint Generation, bool Probe, bool Timed, long Start)>();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }.AddCircuitBreaker(breaker).Build();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var step = 0;

        foreach (var raw in script)
        {
            step++;
            var command = raw % 10;
            var argument = raw / 10;
            var now = time.GetTimestamp();
            switch (command)
            {
                case <= 3:
                    {
                        // A call that takes 10, 100 (exactly the slow-call duration) or 150 ms and ends with a result; some
                        // report the duration they measured, that or one tick less.
                        var result = command switch { 0 or 1 => CircuitCallResult.Success, 2 => CircuitCallResult.Failure, _ => CircuitCallResult.Ignored };
                        var took = TimeSpan.FromMilliseconds((argument % 3) switch { 0 => 10, 1 => 100, _ => 150 });
                        TimeSpan? measured = (argument / 3 % 3) switch { 0 => took, 1 => took - TimeSpan.FromTicks(1), _ => null };
                        if (argument / 9 % 2 == 1)
                        {
                            // The same call through a pipeline: the same decision, figures and transitions.
                            if (ThroughPipeline(pipeline, time, took, result, cancelled.Token, model, now) is { } differs)
                            {
                                return Fail(step, "pipeline " + differs);
                            }

                            break;
                        }

                        var admitted = breaker.TryAcquire(out var permit);
                        var expected = model.Acquire(now);
                        if (Disagree(admitted, permit, expected) is { } why)
                        {
                            return Fail(step, why);
                        }

                        time.Advance(took);
                        if (admitted)
                        {
                            if (measured is { } duration)
                            {
                                breaker.Record(permit, result, duration);
                            }
                            else
                            {
                                breaker.Record(permit, result);
                            }

                            model.Record(expected.Generation, expected.Probe, expected.Timed, result, now, time.GetTimestamp(), measured);
                        }

                        break;
                    }

                case 4:
                    time.Advance(TimeSpan.FromMilliseconds(argument));
                    break;

                case 5:
                    {
                        // A call that stays in flight (a concurrent probe or a slow caller).
                        var admitted = breaker.TryAcquire(out var permit);
                        var expected = model.Acquire(now);
                        if (Disagree(admitted, permit, expected) is { } why)
                        {
                            return Fail(step, "held " + why);
                        }

                        if (admitted)
                        {
                            held.Add((permit, expected.Generation, expected.Probe, expected.Timed, now));
                        }

                        break;
                    }

                case 6:
                    if (held.Count > 0)
                    {
                        // A held call completes, possibly in a later generation than it started.
                        var (permit, generation, probe, timed, start) = held[argument % held.Count];
                        held.RemoveAt(argument % held.Count);
                        var result = (CircuitCallResult)(argument % 3);
                        breaker.Record(permit, result);
                        model.Record(generation, probe, timed, result, start, now);
                    }

                    break;

                case 7:
                    if (argument % 4 == 0)
                    {
                        breaker.Isolate();
                        model.Isolate(now);
                    }
                    else if (argument % 4 == 1)
                    {
                        breaker.Close();
                        model.Close(now);
                    }

                    break;

                case 8:
                    if (argument % 8 == 0)
                    {
                        // Live reconfiguration: thresholds change, state and generation stay, and the window keeps
                        // its counts (moved to the new shape's buckets when the shape changes).
                        var options = (argument / 8 % 3) switch { 0 => First(time), 1 => Second(time), _ => Third(time) };
                        breaker.UpdateOptions(options);
                        model.Update(options, now);
                    }

                    break;

                default:
                    time.Advance(TimeSpan.FromMilliseconds(argument * 5));
                    break;
            }

            var snapshot = breaker.GetSnapshot();
            if (snapshot.State != model.State || snapshot.Generation != model.Generation)
            {
                return Fail(step, $"state {snapshot.State}/{snapshot.Generation} vs model {model.State}/{model.Generation}");
            }

            var figures = (snapshot.Calls, snapshot.Failures, snapshot.SlowCalls);
            var expectedFigures = snapshot.State switch
            {
                CircuitState.Closed => model.Window(time.GetTimestamp()),
                CircuitState.HalfOpen => (model.ProbeResults().Calls, model.ProbeResults().Failures, 0L),
                _ => (0L, 0L, 0L),
            };
            if (figures != expectedFigures)
            {
                return Fail(step, $"figures {figures} vs model {expectedFigures} in {snapshot.State}");
            }

            if (!raised.SequenceEqual(model.Transitions))
            {
                return Fail(step, $"transitions [{string.Join(", ", raised)}] vs model [{string.Join(", ", model.Transitions)}]");
            }
        }

        return true.ToProperty();
    }

    /// <summary>Runs a call through the pipeline (a failure throws, an ignored call is the caller's cancellation) and has the model count it.</summary>
    private static string? ThroughPipeline(ResiliencePipeline pipeline, FakeTimeProvider time, TimeSpan took, CircuitCallResult result, CancellationToken cancelled, BreakerModel model, long now)
    {
        var ran = false;
        var outcome = pipeline.ExecuteOutcome(
            (_, token) =>
            {
                ran = true;
                time.Advance(took);
                return result switch
                {
                    CircuitCallResult.Success => 0,
                    CircuitCallResult.Failure => throw new IOException(),
                    _ => throw new OperationCanceledException(token),
                };
            },
            0,
            result == CircuitCallResult.Ignored ? cancelled : CancellationToken.None);
        var expected = model.Acquire(now);
        if (ran != expected.Admitted || outcome.IsRejected == expected.Admitted)
        {
            return $"admit {ran} vs model {expected.Admitted}";
        }

        if (!ran)
        {
            var reason = model.State == CircuitState.Isolated ? RejectionReason.IsolatedCircuit : RejectionReason.BrokenCircuit;
            return (outcome.Rejection.Reason, outcome.Rejection.RetryAfter) != (reason, expected.RetryAfter)
                ? $"rejection {outcome.Rejection.Reason}/{outcome.Rejection.RetryAfter} vs model {reason}/{expected.RetryAfter}"
                : null;
        }

        model.Record(expected.Generation, expected.Probe, expected.Timed, result, now, time.GetTimestamp());
        return null;
    }

    private static string? Disagree(bool admitted, CircuitPermit permit, (bool Admitted, uint Generation, bool Probe, bool Timed, TimeSpan? RetryAfter) expected)
    {
        if (admitted != expected.Admitted || admitted != permit.IsAcquired)
        {
            return $"admit {admitted} vs model {expected.Admitted}";
        }

        if (admitted && (permit.Generation != expected.Generation || permit.IsProbe != expected.Probe))
        {
            return $"permit {permit.Generation}/{permit.IsProbe} vs model {expected.Generation}/{expected.Probe}";
        }

        return !admitted && permit.RetryAfter != expected.RetryAfter ? $"retry-after {permit.RetryAfter} vs model {expected.RetryAfter}" : null;
    }

    private static Property Fail(int step, string why) => false.Label($"step {step}: {why}");
}
