using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.RateLimiting;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.Composite;

/// <summary>
/// Model-based test of calls in flight together through one typed pipeline of the built-in strategies, outermost first:
/// a fallback chain (the last known good value of the call's key, then a fixed value), a retry (no delay, two retries,
/// a shared budget, rejections retried after their retry-after), a circuit breaker, a per-attempt timeout and a token
/// bucket that waits (up to its maximum wait) for a permit it reserved, all on one fake clock. Random scripts start
/// calls (up to four at once, one more behind a concurrency limiter; now and then one whose caller already cancelled,
/// which runs and takes nothing), complete any waiting attempt (with a value, a handled failure, a failed result or an
/// unhandled failure), cancel any call wherever it waits, advance the clock (firing timeouts, bucket slots and retry
/// delays one at a time, in order), isolate and close the breaker by hand, and change options live (the breaker's, the
/// timeout's, and the bucket's: to another rate, burst and wait, or to failing fast), against the pipeline and <see cref="OverlappingCallsModel"/>.
/// After every step they must agree on where each call rests (its attempts so far, waiting in an attempt or not, ended
/// or not), the timers armed, each ended call's outcome (value and fallback level, or exception), what the fallback was
/// told it served, the breaker's state, generation, figures, probe slots and transitions, the bucket's statistics
/// (available, leases, failed leases, permits waited for) and the budget's balance. Two more properties put a concurrency
/// limiter with a queue outermost (oldest first, then newest first): a call holds its permit to its end, which lets the
/// waiter served first in at once; a waiter times out, is cancelled, finds the queue full or is dropped for a newer one.
/// Three more cover the gaps, one per limiter arrangement: calls whose caller passes <see cref="CancellationToken.None"/>
/// (never cancelled by the script, they still wait for the queue, the bucket and retry delays, and their passes share
/// the timeout's slot), calls in the blocking form (<c>ExecuteOutcome</c>) on threads of their own (the script moves on
/// only once the call rests where the model says, its timers armed), and each limiter disposed, by <c>Dispose</c> or
/// <c>DisposeAsync</c>, while calls wait for it: the bucket under two waiters or more, the concurrency limiter with calls
/// queued and in flight; then the calls after it.
/// </summary>
public class OverlappingCallsModelTests
{
    private const int MaxInFlight = 4;

    private static readonly string[] LevelNames = ["last-known-good", "fixed"];

    private static TokenBucketLimiterOptions Waiting(TimeProvider time) => new() { PermitsPerSecond = 10, Burst = 2, MaxWait = TimeSpan.FromMilliseconds(250), TimeProvider = time };

    private static TokenBucketLimiterOptions WaitingLess(TimeProvider time) => new() { PermitsPerSecond = 20, Burst = 3, MaxWait = TimeSpan.FromMilliseconds(90), TimeProvider = time };

    private static TokenBucketLimiterOptions FailingFast(TimeProvider time) => new() { PermitsPerSecond = 10, Burst = 2, TimeProvider = time };

    private static InFlightLimiterOptions OldestFirst(TimeProvider time) => new() { PermitLimit = 3, QueueLimit = 1, QueueTimeout = TimeSpan.FromMilliseconds(200), TimeProvider = time };

    // A newcomer takes a free permit before the waiters, and a full queue drops its oldest waiter for it.
    private static InFlightLimiterOptions NewestFirst(TimeProvider time) => new()
    {
        PermitLimit = 2, QueueLimit = 2, QueueProcessingOrder = QueueProcessingOrder.NewestFirst, QueueTimeout = TimeSpan.FromMilliseconds(150), TimeProvider = time,
    };

    // Each step is a number in [0, 100000): its last digit picks the command, the rest (0-9999) is its argument.
    [Property(MaxTest = 500, EndSize = 150, Replay = "(5830219741,2718281829)")]
    public Property Overlapping_calls_through_a_waiting_bucket_agree_with_the_reference_model() =>
        Prop.ForAll(Gen.Choose(0, 99_999).ArrayOf().ToArbitrary(), script => Run(script, concurrency: null));

    [Property(MaxTest = 500, EndSize = 150, Replay = "(9182736455,1414213563)")]
    public Property Overlapping_calls_behind_a_queued_concurrency_limiter_agree_with_the_reference_model() =>
        Prop.ForAll(Gen.Choose(0, 99_999).ArrayOf().ToArbitrary(), script => Run(script, OldestFirst));

    [Property(MaxTest = 500, EndSize = 150, Replay = "(3141592653,5772156649)")]
    public Property Overlapping_calls_behind_a_newest_first_concurrency_limiter_agree_with_the_reference_model() =>
        Prop.ForAll(Gen.Choose(0, 99_999).ArrayOf().ToArbitrary(), script => Run(script, NewestFirst));

    // The gaps: calls whose caller passes CancellationToken.None, calls in the blocking form on threads of their own, and
    // each limiter disposed while calls wait for it.
    [Property(MaxTest = 300, EndSize = 150, Replay = "(2718281828,3141592655)")]
    public Property Uncancellable_blocking_and_disposal_through_a_waiting_bucket_agree_with_the_reference_model() =>
        Prop.ForAll(Gen.Choose(0, 99_999).ArrayOf().ToArbitrary(), script => Run(script, concurrency: null, extended: true));

    [Property(MaxTest = 300, EndSize = 150, Replay = "(1618033988,2236067977)")]
    public Property Uncancellable_blocking_and_disposal_behind_a_queued_concurrency_limiter_agree_with_the_reference_model() =>
        Prop.ForAll(Gen.Choose(0, 99_999).ArrayOf().ToArbitrary(), script => Run(script, OldestFirst, extended: true));

    [Property(MaxTest = 300, EndSize = 150, Replay = "(1732050807,1259921049)")]
    public Property Uncancellable_blocking_and_disposal_behind_a_newest_first_concurrency_limiter_agree_with_the_reference_model() =>
        Prop.ForAll(Gen.Choose(0, 99_999).ArrayOf().ToArbitrary(), script => Run(script, NewestFirst, extended: true));

    private static Property Run(int[] script, Func<TimeProvider, InFlightLimiterOptions>? concurrency, bool extended = false)
    {
        var provider = new SteppedTimeProvider(new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        var origin = provider.GetTimestamp();
        var breaker = new Breaker(CompositePipelineModelTests.BreakerFirst(provider));
        using var bucket = new TokenBucketLimiter(Waiting(provider));
        var budget = new RetryBudget(CompositePipelineModelTests.BudgetFirst());
        var lastGood = new LastKnownGood<string, int>(CompositeModel.MaxAge, capacity: 16, timeProvider: provider);
        using var inFlight = concurrency is null ? null : new InFlightLimiter(concurrency(provider));
        var model = new OverlappingCallsModel(
            CompositePipelineModelTests.BreakerFirst(provider), Waiting(provider), CompositePipelineModelTests.BudgetFirst(), origin, concurrency?.Invoke(provider));
        var raised = new ConcurrentQueue<(CircuitState, CircuitState, CircuitTransitionReason, uint, long, long, long, TimeSpan?)>();
        breaker.Transitioned += (_, t) => raised.Enqueue((t.From, t.To, t.Reason, t.Generation, t.Window.Calls, t.Window.Failures, t.Window.SlowCalls, t.BreakDuration));
        var served = new ConcurrentQueue<FallbackServed>();

        // Every strategy judges alike: an InvalidOperationException, a timeout and a negative result are failures; an
        // ArgumentException is nobody's. The fallback lets timeouts through to the caller.
        Func<Outcome<int>, bool> handled = static o => o.Exception is InvalidOperationException or TimeoutRejectedException || (o.Exception is null && o.Result < 0);
        var builder = new ResiliencePipelineBuilder<int> { TimeProvider = provider };
        if (inFlight is not null)
        {
            builder.AddRateLimiter(inFlight);
        }

        var timeout = new TimeoutStrategy(new TimeoutOptions { Timeout = model.Timeout, TimeProvider = provider });
        var pipeline = builder
            .AddFallback(
                new FallbackOptions<int>
                {
                    Levels = { lastGood.AsLevel(static state => ((OverlappingCall)state!).Key), FallbackLevel<int>.FromValue(LevelNames[1], CompositeModel.StaticValue) },
                    OnServed = served.Enqueue,
                },
                static o => o.Exception is InvalidOperationException || (o.Exception is null && o.Result < 0))
            .AddStrategy(new RetryStrategy(CompositePipelineModelTests.RetryFirst(budget)), handled)
            .AddCircuitBreaker(breaker, handled)
            .AddStrategy(timeout)
            .AddRateLimiter(bucket)
            .Build();
        var calls = new List<OverlappingCall>();
        var reported = new HashSet<int>();
        var bucketDisposed = false;
        var inFlightDisposed = false;
        var disposals = new List<string>();

        // Disposes a limiter while calls wait for it (the bucket: by Dispose or DisposeAsync, with at least two waiters,
        // when what follows does not depend on the order the failed calls go on in; the concurrency limiter: with a
        // waiter queued), once each; Done is false when none may be disposed now. Either disposal completes its waiters
        // before it returns: none is left waiting.
        (bool Done, string What, string? Why) DisposeLimiter(int argument, long now)
        {
            var asynchronous = argument / 4 % 2 == 0;
            var what = asynchronous ? "DisposeAsync" : "Dispose";
            if (argument / 8 % 2 == 0 && inFlight is not null && !inFlightDisposed && model.InFlight.Queued > 0)
            {
                inFlightDisposed = true;
                model.DisposeInFlight(now);
                if (!asynchronous)
                {
                    inFlight.Dispose();
                }
                else if (!inFlight.DisposeAsync().IsCompletedSuccessfully)
                {
                    return (true, $"the concurrency limiter's {what}", "it did not complete at once");
                }

                return (true, $"the concurrency limiter's {what}", inFlight.GetStatistics()!.CurrentQueuedCount != 0 ? "a waiter was still queued after disposal" : null);
            }

            if (bucketDisposed || model.Calls.Count(c => c.Stage == OverlappingStage.WaitingForPermit) < 2 || !model.BucketDisposalIsOrderFree(now))
            {
                return (false, string.Empty, null);
            }

            bucketDisposed = true;
            var expected = model.DisposeBucket(now);

            // The failed calls go on together, each on a thread of its own, once every waiter has failed and given its
            // slot back (see BucketDisposalIsOrderFree).
            provider.HoldClock();
            try
            {
                if (!asynchronous)
                {
                    bucket.Dispose();
                }
                else if (!bucket.DisposeAsync().IsCompletedSuccessfully)
                {
                    return (true, $"the bucket's {what}", "it did not complete at once");
                }

                // Every waiter has failed, and given its slot back, by the time disposal returns (the calls have not
                // gone on yet: the clock is held).
                var statistics = bucket.GetStatistics()!;
                var disposed = (statistics.CurrentAvailablePermits, statistics.TotalFailedLeases, statistics.CurrentQueuedCount);
                return (true, $"the bucket's {what}", disposed != (expected.Available, expected.Failures, 0)
                    ? $"(available, failed leases, waiting) {disposed} as disposal returned vs model {(expected.Available, expected.Failures, 0)}"
                    : null);
            }
            finally
            {
                provider.LetClockGo();
            }
        }

        string? Settle() => Settled(provider, model, calls, served, reported, breaker, bucket, inFlight, budget, raised);
        string? AdvanceTo(long until) => Advance(provider, model, calls, served, reported, breaker, bucket, inFlight, budget, raised, until);

        try
        {
            var step = 0;
            foreach (var raw in script)
            {
                step++;
                var argument = raw / 10;
                var now = provider.GetTimestamp();
                var live = model.Calls.Where(c => c.Stage != OverlappingStage.Done).ToList();
                var inAttempt = live.Where(c => c.Stage == OverlappingStage.Attempt).ToList();
                string? why;

                // With the gaps covered, one step in four disposes a limiter instead, if one may be disposed now.
                if (extended && argument % 4 == 3 && DisposeLimiter(argument, now) is { Done: true } disposal)
                {
                    if ((disposal.Why ?? Settle()) is { } wrong)
                    {
                        return Fail(step, $"{wrong} (disposing {disposal.What})", disposals);
                    }

                    disposals.Add($"{disposal.What} at step {step}");
                    continue;
                }

                switch (raw % 10)
                {
                    case 0:
                    case 1:
                        // With a concurrency limiter, one call more than it admits and queues: the queue is found full.
                        if (live.Count < (inFlight is null ? MaxInFlight : MaxInFlight + 1))
                        {
                            // One call in four ignores its token: it runs past its timeout and its caller's cancellation.
                            // With the gaps covered, one in three passes CancellationToken.None (its caller never cancels
                            // it), one at a time: such passes share the timeout's slot, and two cut short by its one timer
                            // would go on together, in no order the model could tell. One call in four runs the blocking
                            // form on a thread of its own.
                            var key = argument % 2 == 0 ? "a" : "b";
                            var ignoresToken = argument / 2 % 4 == 0;
                            var cancellable = !extended || argument / 8 % 3 != 0 || live.Any(c => !c.Cancellable);
                            var synchronous = extended && argument / 24 % 4 == 1;

                            // One call in eight or so has its caller's token cancelled before it starts: it runs nothing,
                            // takes nothing, and ends at once.
                            var cancelledAtStart = argument / 96 % 8 == 7;
                            var call = new OverlappingCall(key, 100 + step, ignoresToken, provider.Changed, cancellable || cancelledAtStart, synchronous, cancelledAtStart);
                            calls.Add(call);
                            if (cancelledAtStart)
                            {
                                model.StartCancelled(key, call.Value, ignoresToken, now);
                            }
                            else
                            {
                                model.Start(key, call.Value, ignoresToken, now, cancellable);
                            }

                            call.Start(pipeline);
                        }

                        break;

                    case 2:
                    case 3:
                    case 4:
                        if (inAttempt.Count > 0)
                        {
                            // Successes half the time; handled failures (thrown or a failed result), and now and then one nobody handles.
                            var target = inAttempt[argument % inAttempt.Count];
                            var kind = (argument / 7 % 8) switch
                            {
                                < 4 => AttemptKind.Ok,
                                < 6 => AttemptKind.Throws,
                                6 => AttemptKind.FailedResult,
                                _ => AttemptKind.Unhandled,
                            };
                            model.Complete(target, kind, now);
                            calls[target.Index].Complete(kind);
                        }

                        break;

                    case 5:
                    case 6:
                        // Whole milliseconds, now and then with a few ticks more (the breaker counts in milliseconds).
                        var ticks = TimeSpan.FromMilliseconds(argument % 350).Ticks + (argument / 350 % 4 == 0 ? argument % 7 : 0);
                        if (AdvanceTo(now + ticks) is { } stopped)
                        {
                            return Fail(step, stopped, disposals);
                        }

                        break;

                    case 7:
                        var cancellers = live.Where(c => c.Cancellable).ToList();
                        if (cancellers.Count > 0)
                        {
                            var target = cancellers[argument % cancellers.Count];
                            model.Cancel(target, now);
                            calls[target.Index].Caller.Cancel();
                        }

                        break;

                    case 8:
                        switch (argument % 5)
                        {
                            case 0:
                                breaker.Isolate();
                                model.Breaker.Isolate(now);
                                break;
                            case 1:
                                breaker.Close();
                                model.Breaker.Close(now);
                                break;
                            case 2:
                                // The second options track slow calls (the attempt's timeout is slower than they allow).
                                var thresholds = argument / 5 % 2 == 0 ? CompositePipelineModelTests.BreakerFirst(provider) : CompositePipelineModelTests.BreakerSecond(provider);
                                breaker.UpdateOptions(thresholds);
                                model.Breaker.Update(thresholds, now);
                                break;
                            default:
                                if (AdvanceTo(now + TimeSpan.TicksPerSecond) is { } late)
                                {
                                    return Fail(step, late, disposals);
                                }

                                break;
                        }

                        break;

                    default:
                        if (argument % 6 is 3 or 4)
                        {
                            // A shorter timeout than the bucket's longest wait, or the first: for attempts that start from now on.
                            model.Timeout = TimeSpan.FromMilliseconds(argument % 6 == 3 ? 90 : 160);
                            timeout.UpdateOptions(new TimeoutOptions { Timeout = model.Timeout, TimeProvider = provider });
                            break;
                        }

                        // Live changes, while waiters hold reservations: the debt is kept, and their slots no longer come back.
                        var options = (argument % 6) switch
                        {
                            0 => Waiting(provider),
                            1 => WaitingLess(provider),
                            2 => FailingFast(provider),
                            _ => null,
                        };
                        if (options is not null)
                        {
                            bucket.UpdateOptions(options);
                            model.Bucket.Update(options, now);
                        }

                        break;
                }

                if ((why = Settle()) is not null)
                {
                    return Fail(step, why, disposals);
                }
            }

            // Every call still in flight is cancelled by its caller, one at a time, and one that runs on is completed. A
            // call its caller cannot cancel is completed once in an attempt; until then the clock moves to the next timer.
            for (var round = 0; round < 100 && model.Calls.Any(c => c.Stage != OverlappingStage.Done); round++)
            {
                foreach (var call in model.Calls.Where(c => c.Stage != OverlappingStage.Done).ToList())
                {
                    if (call.Cancellable && call.Stage != OverlappingStage.Done)
                    {
                        model.Cancel(call, provider.GetTimestamp());
                        calls[call.Index].Caller.Cancel();
                        if (Settle() is { } why)
                        {
                            return Fail(script.Length + 1, why, disposals);
                        }
                    }

                    if (call.Stage == OverlappingStage.Attempt)
                    {
                        model.Complete(call, AttemptKind.Ok, provider.GetTimestamp());
                        calls[call.Index].Complete(AttemptKind.Ok);
                        if (Settle() is { } late)
                        {
                            return Fail(script.Length + 1, late, disposals);
                        }
                    }
                }

                if (model.DueTimes.Cast<long?>().FirstOrDefault() is { } due
                    && AdvanceTo(due) is { } stuck)
                {
                    return Fail(script.Length + 1, stuck, disposals);
                }
            }

            return model.Calls.All(c => c.Stage == OverlappingStage.Done) ? true.ToProperty() : Fail(script.Length + 1, "calls never ended", disposals);
        }
        finally
        {
            foreach (var call in calls)
            {
                call.Caller.Cancel();
                if (call.InAttempt)
                {
                    // A blocking call's thread is let go even when the script failed midway.
                    call.Complete(AttemptKind.Ok);
                }

                call.Dispose();
            }
        }
    }

    /// <summary>Fires the timers due until <paramref name="until"/> one at a time, each against the model, then moves the clock there.</summary>
    private static string? Advance(
        SteppedTimeProvider provider,
        OverlappingCallsModel model,
        List<OverlappingCall> calls,
        ConcurrentQueue<FallbackServed> served,
        HashSet<int> reported,
        Breaker breaker,
        TokenBucketLimiter bucket,
        InFlightLimiter? inFlight,
        RetryBudget budget,
        ConcurrentQueue<(CircuitState, CircuitState, CircuitTransitionReason, uint, long, long, long, TimeSpan?)> raised,
        long until)
    {
        // Every timer fired arms at most two more, each later than it: a bound no script reaches.
        for (var fired = 0; fired < 1000; fired++)
        {
            if (provider.FireNext(until) is not { } due)
            {
                provider.MoveTo(until);
                return null;
            }

            model.Fire(due);
            if (Settled(provider, model, calls, served, reported, breaker, bucket, inFlight, budget, raised) is { } why)
            {
                return $"at {due}: {why}";
            }
        }

        return "the timers kept firing";
    }

    /// <summary>
    /// Waits (bounded) until every call rests where the model says (the pipeline goes on on the thread pool after an
    /// attempt completes or a timer fires), then compares everything observable with the model.
    /// </summary>
    private static string? Settled(
        SteppedTimeProvider provider,
        OverlappingCallsModel model,
        List<OverlappingCall> calls,
        ConcurrentQueue<FallbackServed> served,
        HashSet<int> reported,
        Breaker breaker,
        TokenBucketLimiter bucket,
        InFlightLimiter? inFlight,
        RetryBudget budget,
        ConcurrentQueue<(CircuitState, CircuitState, CircuitTransitionReason, uint, long, long, long, TimeSpan?)> raised)
    {
        var waited = Stopwatch.StartNew();
        while (!Rests(provider, model, calls))
        {
            var left = TimeSpan.FromSeconds(10) - waited.Elapsed;
            if (left <= TimeSpan.Zero || !provider.Changed.Wait(left))
            {
                var actual = string.Join("; ", calls.Select((c, i) => $"call {i}: {c.Invocations} attempt(s), {(c.InAttempt ? "in an attempt" : c.Task!.IsCompleted ? "ended" : "waiting")}"));
                return $"the pipeline did not come to rest where the model did: [{actual}], timers [{string.Join(", ", provider.DueTimes())}] vs model [{string.Join("; ", model.Calls)}], timers [{string.Join(", ", model.DueTimes)}]";
            }
        }

        if (calls.FirstOrDefault(c => c.StrayAttempts > 0) is { } stray)
        {
            return $"call {calls.IndexOf(stray)} in the blocking form ran {stray.StrayAttempts} attempt(s) off its caller's thread";
        }

        // Calls ended in one step (one that ends lets a queued one in, which may end at once) are told to the fallback in
        // the order they ended: what it was told is compared as a whole.
        var expectedServed = new List<string>();
        foreach (var expected in model.Calls.Where(c => c.Stage == OverlappingStage.Done && !reported.Contains(c.Index)))
        {
            reported.Add(expected.Index);
            var call = calls[expected.Index];
            var outcome = call.Task!.Result;
            var actual = outcome.IsSuccess
                ? $"value {outcome.Result} from {(outcome.FallbackLevel is { } level ? $"level {level}" : "the call")}"
                : outcome.IsRejected ? $"rejected ({outcome.Rejection.Reason})" : outcome.Exception!.GetType().Name;
            var summary = $"{actual} vs model {expected}";
            if (expected.Rejected)
            {
                if (!outcome.IsRejected || outcome.Rejection.Reason != RejectionReason.RateLimited)
                {
                    return summary;
                }
            }
            else if (expected.Result is { } result)
            {
                if (!outcome.IsSuccess || outcome.Result != result.Value || outcome.FallbackLevel != result.Level)
                {
                    return summary;
                }

                if (result.Level is { } servedBy)
                {
                    expectedServed.Add($"{LevelNames[servedBy]} replacing {expected.Replaced?.Name}");
                }
            }
            else if (outcome.IsSuccess || outcome.IsRejected || outcome.Exception!.GetType() != expected.Exception
                || (outcome.Exception is OperationCanceledException cancelled && cancelled.CancellationToken != call.Caller.Token)
                || (outcome.Exception is TimeoutRejectedException timedOut && timedOut.Timeout != expected.ArmedTimeout))
            {
                // The caller's own cancellation reaches it as such, with its token.
                return summary;
            }
        }

        var told = new List<string>();
        while (served.TryDequeue(out var s))
        {
            told.Add($"{s.LevelName} replacing {s.Failure?.GetType().Name}");
        }

        if (!told.Order().SequenceEqual(expectedServed.Order()))
        {
            return $"the fallback was told [{string.Join(", ", told)}] vs model [{string.Join(", ", expectedServed)}]";
        }

        var now = provider.GetTimestamp();
        var snapshot = breaker.GetSnapshot();
        var expectedFigures = model.Breaker.State switch
        {
            CircuitState.Closed => model.Breaker.Window(now),
            CircuitState.HalfOpen => (model.Breaker.ProbeResults().Calls, model.Breaker.ProbeResults().Failures, 0L),
            _ => (0L, 0L, 0L),
        };
        if ((snapshot.State, snapshot.Generation, (snapshot.Calls, snapshot.Failures, snapshot.SlowCalls)) != (model.Breaker.State, model.Breaker.Generation, expectedFigures))
        {
            return $"breaker {snapshot} vs model {model.Breaker.State}/{model.Breaker.Generation} {expectedFigures}";
        }

        if (snapshot.State == CircuitState.HalfOpen && breaker.ProbesAdmitted != model.Breaker.ProbesAdmitted)
        {
            return $"probe slots taken {breaker.ProbesAdmitted} vs model {model.Breaker.ProbesAdmitted}";
        }

        if (!raised.SequenceEqual(model.Breaker.Transitions))
        {
            return $"transitions [{string.Join(", ", raised)}] vs model [{string.Join(", ", model.Breaker.Transitions)}]";
        }

        var statistics = bucket.GetStatistics()!;
        var limiter = (statistics.CurrentAvailablePermits, statistics.TotalSuccessfulLeases, statistics.TotalFailedLeases, statistics.CurrentQueuedCount);
        var expectedLimiter = (model.Bucket.Available(now), model.Bucket.Leases, model.Bucket.Failures, model.Bucket.Waiting);
        if (limiter != expectedLimiter)
        {
            return $"bucket (available, leases, failures, waiting) {limiter} vs model {expectedLimiter}";
        }

        if (inFlight?.GetStatistics() is { } held)
        {
            var concurrency = (held.CurrentAvailablePermits, held.CurrentQueuedCount, held.TotalSuccessfulLeases, held.TotalFailedLeases);
            var expectedConcurrency = (model.InFlight.Available, model.InFlight.Queued, model.InFlightLeases, model.InFlightFailures);
            if (concurrency != expectedConcurrency)
            {
                return $"concurrency limiter (available, queued, leases, failures) {concurrency} vs model {expectedConcurrency}";
            }
        }

        return budget.Balance != model.Budget.Balance / 1000.0 ? $"budget {budget.Balance} vs model {model.Budget.Balance / 1000.0}" : null;
    }

    /// <summary>
    /// Whether every call rests where the model says, with the same timers armed, and as many armed so far: a call that
    /// has yet to go on from a completed attempt may hold a timer due when the one it is about to arm will be.
    /// </summary>
    private static bool Rests(SteppedTimeProvider provider, OverlappingCallsModel model, List<OverlappingCall> calls) =>
        model.Calls.All(m => calls[m.Index] is var c && c.Invocations == m.Attempts && c.InAttempt == (m.Stage == OverlappingStage.Attempt) && c.Task!.IsCompleted == (m.Stage == OverlappingStage.Done))
        && provider.DueTimes().SequenceEqual(model.DueTimes)
        && provider.Armings == model.Armings;

    private static Property Fail(int step, string why) => false.Label($"step {step}: {why}");

    private static Property Fail(int step, string why, List<string> disposals) =>
        Fail(step, disposals.Count == 0 ? why : $"{why} (disposed: {string.Join(", ", disposals)})");
}
