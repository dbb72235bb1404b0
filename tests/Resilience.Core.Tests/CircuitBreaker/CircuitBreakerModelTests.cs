using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.CircuitBreaker;

/// <summary>
/// Model-based test: random scripts of calls (success, failure, slow, ignored), time advances, calls held in flight
/// (concurrent probes, hung probes that time out, slow callers), standalone or in a pipeline, and completed later (often
/// in a later generation or under other options), manual commands and live option changes (four sets: thresholds,
/// probe counts and ratios, break growth, jitter and cap, the consecutive trigger and slow-call tracking on and off,
/// three window shapes) run against the breaker and the reference model; the state, the generation, every admit/reject
/// decision with its retry-after, the figures (window while closed, probe results while half-open) and every transition
/// raised (reason, generation, break, figures of the state left) must agree at every step. Some calls report a duration
/// they measured themselves (a held permit may be reported twice, which counts twice); others go through a pipeline on
/// the same breaker (a failure throws, an ignored call is the caller's cancellation), which must decide as the
/// standalone face does.
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
        BreakDurationJitter = 0.25,
        JitterSeed = 11,
        PermittedProbes = 2,
        ProbeSuccessRatio = 0.5,
        ProbeTimeout = TimeSpan.FromMilliseconds(300),
        TimeProvider = time,
    };

    // Same window shape, other thresholds: slow-call tracking, the consecutive trigger and the jitter off, three probes.
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

    // Another shape again (five buckets of 100 ms) with thresholds none of the others has: two probes of four must
    // succeed (so the round is decided by neither the first success nor the first failure), calls of 50.5 ms are slow
    // (a duration the breaker measures in whole milliseconds must not let one escape), two failures in a row open,
    // a tripled break reaches its cap on the second re-opening, and probes give up after 200 ms. Its jitter seed is
    // ignored: the seed stays the one the breaker was built with.
    private static CircuitBreakerOptions Fourth(FakeTimeProvider time) => new()
    {
        FailureRatio = 0.6,
        MinimumThroughput = 2,
        SamplingDuration = TimeSpan.FromMilliseconds(500),
        BucketCount = 5,
        SlowCallDuration = TimeSpan.FromTicks(505_000),
        SlowCallRatio = 0.5,
        ConsecutiveFailures = 2,
        BreakDuration = TimeSpan.FromMilliseconds(300),
        BreakDurationMultiplier = 3,
        MaxBreakDuration = TimeSpan.FromSeconds(1),
        BreakDurationJitter = 0.1,
        JitterSeed = 99,
        PermittedProbes = 4,
        ProbeSuccessRatio = 0.5,
        ProbeTimeout = TimeSpan.FromMilliseconds(200),
        TimeProvider = time,
    };

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
        var held = new List<Held>();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }.AddCircuitBreaker(breaker).Build();
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
                        // A call that takes 10, 50.3 (just under the fourth set's slow-call duration), 100 (exactly the
                        // first set's) or 150 ms and ends with a result; some report the duration they measured, that or
                        // one tick less.
                        var result = command switch { 0 or 1 => CircuitCallResult.Success, 2 => CircuitCallResult.Failure, _ => CircuitCallResult.Ignored };
                        var took = TimeSpan.FromTicks((argument % 4) switch { 0 => 100_000, 1 => 503_000, 2 => 1_000_000, _ => 1_500_000 });
                        TimeSpan? measured = (argument / 4 % 3) switch { 0 => took, 1 => took - TimeSpan.FromTicks(1), _ => null };
                        if (argument / 12 % 2 == 1)
                        {
                            // The same call through a pipeline: the same decision, figures and transitions.
                            if (ThroughPipeline(pipeline, time, took, result, model, now) is { } differs)
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
                    // Whole milliseconds, or (one time in four) a fraction of one, so that starts, ends, bucket
                    // boundaries and deadlines fall between milliseconds and the roundings decide.
                    time.Advance(argument % 4 == 3 ? TimeSpan.FromTicks(argument * 37 % TimeSpan.TicksPerMillisecond) : TimeSpan.FromMilliseconds(argument));
                    break;

                case 5:
                    {
                        // A call that stays in flight (a concurrent probe or a slow caller), standalone or in a pipeline.
                        if (argument % 2 == 1)
                        {
                            var call = HeldInPipeline.Start(pipeline);
                            var expectedCall = model.Acquire(now);
                            if (call.Ran != expectedCall.Admitted)
                            {
                                return Fail(step, $"held pipeline admit {call.Ran} vs model {expectedCall.Admitted}");
                            }

                            if (call.Ran)
                            {
                                held.Add(new(default, expectedCall.Generation, expectedCall.Probe, expectedCall.Timed, now, call));
                            }
                            else if (call.Outcome is not { } refused)
                            {
                                return Fail(step, "a refused pipeline call did not complete at once");
                            }
                            else if (Rejected(refused, model, expectedCall) is { } rejected)
                            {
                                return Fail(step, "held pipeline " + rejected);
                            }

                            break;
                        }

                        var admitted = breaker.TryAcquire(out var permit);
                        var expected = model.Acquire(now);
                        if (Disagree(admitted, permit, expected) is { } why)
                        {
                            return Fail(step, "held " + why);
                        }

                        if (admitted)
                        {
                            held.Add(new(permit, expected.Generation, expected.Probe, expected.Timed, now, null));
                        }

                        break;
                    }

                case 6:
                    if (held.Count > 0)
                    {
                        // A held call completes, possibly in a later generation than it started or under other options;
                        // some report a duration they measured (the true one, or one of their own). Now and then a
                        // standalone permit is reported twice, which counts twice (as documented).
                        var call = held[argument % held.Count];
                        var result = (CircuitCallResult)(argument % 3);
                        if (call.Pipeline is { } inPipeline)
                        {
                            held.RemoveAt(argument % held.Count);
                            if (!inPipeline.Complete(result))
                            {
                                return Fail(step, "a held pipeline call did not complete when its callback did");
                            }

                            model.Record(call.Generation, call.Probe, call.Timed, result, call.Start, now);
                            break;
                        }

                        if (argument % 7 != 0)
                        {
                            held.RemoveAt(argument % held.Count);
                        }

                        TimeSpan? measured = (argument / 3 % 3) switch
                        {
                            0 => null,
                            1 => TimeSpan.FromTicks(now - call.Start),
                            _ => TimeSpan.FromMilliseconds(argument % 160),
                        };
                        if (measured is { } duration)
                        {
                            breaker.Record(call.Permit, result, duration);
                        }
                        else
                        {
                            breaker.Record(call.Permit, result);
                        }

                        model.Record(call.Generation, call.Probe, call.Timed, result, call.Start, now, measured);
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
                    else if (argument % 4 == 2 && CancelledBeforeStart(pipeline) is { } differs)
                    {
                        // A call whose caller cancelled before it started: the model does not see it at all.
                        return Fail(step, "cancelled call " + differs);
                    }

                    break;

                case 8:
                    if (argument % 4 == 0)
                    {
                        // Live reconfiguration: thresholds change, state and generation stay, and the window keeps
                        // its counts (moved to the new shape's buckets when the shape changes).
                        var options = (argument / 4 % 4) switch { 0 => First(time), 1 => Second(time), 2 => Third(time), _ => Fourth(time) };
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
    private static string? ThroughPipeline(ResiliencePipeline pipeline, FakeTimeProvider time, TimeSpan took, CircuitCallResult result, BreakerModel model, long now)
    {
        // The caller cancels during the call: one that cancelled before it started would run nothing.
        using var caller = new CancellationTokenSource();
        var ran = false;
        var outcome = pipeline.ExecuteOutcome(
            (_, token) =>
            {
                ran = true;
                time.Advance(took);
                if (result == CircuitCallResult.Ignored)
                {
                    caller.Cancel();
                }

                return result switch
                {
                    CircuitCallResult.Success => 0,
                    CircuitCallResult.Failure => throw new IOException(),
                    _ => throw new OperationCanceledException(token),
                };
            },
            0,
            caller.Token);
        var expected = model.Acquire(now);
        if (ran != expected.Admitted || outcome.IsRejected == expected.Admitted)
        {
            return $"admit {ran} vs model {expected.Admitted}";
        }

        if (!ran)
        {
            return Rejected(outcome, model, expected);
        }

        model.Record(expected.Generation, expected.Probe, expected.Timed, result, now, time.GetTimestamp());
        return null;
    }

    /// <summary>
    /// Runs a call whose caller cancelled before it started: it must end with that cancellation and run nothing, so that
    /// the breaker takes no permit or probe slot and moves nowhere (a breaker whose break has passed stays open).
    /// </summary>
    private static string? CancelledBeforeStart(ResiliencePipeline pipeline)
    {
        using var caller = new CancellationTokenSource();
        caller.Cancel();
        var ran = false;
        var outcome = pipeline.ExecuteOutcome((_, _) => ran = true, 0, caller.Token);
        return ran || outcome.Exception is not OperationCanceledException cancelled || cancelled.CancellationToken != caller.Token
            ? $"ran {ran}, ended with {outcome.Exception?.GetType().Name ?? (outcome.IsRejected ? "a rejection" : "a result")}"
            : null;
    }

    private static string? Rejected(Outcome<int> outcome, BreakerModel model, (bool Admitted, uint Generation, bool Probe, bool Timed, TimeSpan? RetryAfter) expected)
    {
        var reason = model.State == CircuitState.Isolated ? RejectionReason.IsolatedCircuit : RejectionReason.BrokenCircuit;
        return !outcome.IsRejected || (outcome.Rejection.Reason, outcome.Rejection.RetryAfter) != (reason, expected.RetryAfter)
            ? $"rejection {outcome.IsRejected} {outcome.Rejection.Reason}/{outcome.Rejection.RetryAfter} vs model {reason}/{expected.RetryAfter}"
            : null;
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

    /// <summary>A call in flight: a standalone permit, or a pipeline call whose callback has not completed.</summary>
    private sealed record Held(CircuitPermit Permit, uint Generation, bool Probe, bool Timed, long Start, HeldInPipeline? Pipeline);

    /// <summary>An asynchronous pipeline call held in its callback until <see cref="Complete"/>: success, a failure (thrown), or the caller's cancellation.</summary>
    private sealed class HeldInPipeline
    {
        private readonly TaskCompletionSource<int> _callback = new();
        private readonly CancellationTokenSource _caller = new();
        private ValueTask<Outcome<int>> _call;

        public bool Ran { get; private set; }

        /// <summary>Gets the outcome of a call the pipeline refused (completed at once); <see langword="null"/> while in flight.</summary>
        public Outcome<int>? Outcome => _call.IsCompleted ? _call.Result : null;

        public static HeldInPipeline Start(ResiliencePipeline pipeline)
        {
            var held = new HeldInPipeline();
            held._call = pipeline.ExecuteOutcomeAsync(
                static (h, _) =>
                {
                    h.Ran = true;
                    return new ValueTask<int>(h._callback.Task);
                },
                held,
                held._caller.Token);
            return held;
        }

        /// <summary>Ends the callback; returns whether the pipeline call completed with it (its exit ran on this thread).</summary>
        public bool Complete(CircuitCallResult result)
        {
            switch (result)
            {
                case CircuitCallResult.Success:
                    _callback.SetResult(0);
                    break;
                case CircuitCallResult.Failure:
                    _callback.SetException(new IOException());
                    break;
                default:
                    _caller.Cancel();
                    _callback.SetCanceled(_caller.Token);
                    break;
            }

            _caller.Dispose();
            return _call.IsCompleted;
        }
    }
}
