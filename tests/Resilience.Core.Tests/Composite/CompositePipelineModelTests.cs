using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.Composite;

/// <summary>
/// Model-based test of the built-in strategies composed in one typed pipeline, outermost first: a fallback chain (the
/// last known good value of the call's key, then a fixed value), a retry (no delay, two retries, a shared retry budget),
/// a circuit breaker, a token bucket and a timeout, all on one fake clock. Random scripts of calls (each attempt
/// succeeding, failing with a handled exception or result, failing with an exception nobody handles, completing later
/// within the timeout, ignoring its token past the timeout, or waiting until the timeout cancels it; with and without a
/// cancellable caller token; through the asynchronous and the synchronous forms), time advances, manual isolation and
/// closing, and live option changes of the breaker, the bucket, the budget, the retry and the timeout run against the pipeline and
/// <see cref="CompositeModel"/>. After every step they must agree on the caller's outcome (value, fallback level and the
/// level named to <c>OnServed</c>, or exception type), the attempts that reached the callback, when the call ended, the
/// breaker's state, generation, figures and transitions, the bucket's statistics and the budget's balance.
/// </summary>
public class CompositePipelineModelTests
{
    private static readonly string[] LevelNames = ["last-known-good", "fixed"];

    internal static CircuitBreakerOptions BreakerFirst(TimeProvider time) => new()
    {
        FailureRatio = 0.5,
        MinimumThroughput = 4,
        SamplingDuration = TimeSpan.FromSeconds(1),
        BucketCount = 4,
        ConsecutiveFailures = 3,
        BreakDuration = TimeSpan.FromMilliseconds(400),
        BreakDurationMultiplier = 2,
        MaxBreakDuration = TimeSpan.FromSeconds(2),
        BreakDurationJitter = 0.2,
        JitterSeed = 5,
        PermittedProbes = 2,
        ProbeSuccessRatio = 0.5,
        ProbeTimeout = TimeSpan.FromMilliseconds(300),
        TimeProvider = time,
    };

    // Other thresholds, one probe that must succeed, and slow-call tracking: attempts of 120 ms or more are slow.
    internal static CircuitBreakerOptions BreakerSecond(TimeProvider time) => new()
    {
        FailureRatio = 0.75,
        MinimumThroughput = 3,
        SamplingDuration = TimeSpan.FromSeconds(1),
        BucketCount = 4,
        SlowCallDuration = TimeSpan.FromMilliseconds(100),
        SlowCallRatio = 0.5,
        BreakDuration = TimeSpan.FromMilliseconds(300),
        PermittedProbes = 1,
        TimeProvider = time,
    };

    internal static TokenBucketLimiterOptions BucketFirst(TimeProvider time) => new() { PermitsPerSecond = 10, Burst = 3, TimeProvider = time };

    internal static TokenBucketLimiterOptions BucketSecond(TimeProvider time) => new() { PermitsPerSecond = 20, Burst = 2, TimeProvider = time };

    // Rejections retried after their retry-after (up to 300 ms), or not at all.
    internal static RetryOptions RetryFirst(RetryBudget budget) => new()
    {
        MaxRetryAttempts = CompositeModel.MaxRetryAttempts,
        Backoff = RetryBackoff.Constant,
        Delay = TimeSpan.Zero,
        UseJitter = false,
        MaxRetryAfter = CompositeModel.MaxRetryAfter,
        RetryRateLimited = true,
        RetryBrokenCircuit = true,
        Budget = budget,
    };

    private static RetryOptions RetrySecond(RetryBudget budget)
    {
        var options = RetryFirst(budget);
        options.RetryRateLimited = false;
        options.RetryBrokenCircuit = false;
        return options;
    }

    internal static RetryBudgetOptions BudgetFirst() => new() { MaxTokens = 8, TokenRatio = 0.5 };

    private static RetryBudgetOptions BudgetSecond() => new() { MaxTokens = 5, TokenRatio = 0.2 };

    // Each step is a number in [0, 200000): its last digit picks the command, the rest (0-19999) is its argument.
    [Property(MaxTest = 500, EndSize = 80, Replay = "(7418265123907,1296641543)")]
    public Property Composed_pipeline_agrees_with_the_reference_model() =>
        Prop.ForAll(Gen.Choose(0, 199_999).ArrayOf().ToArbitrary(), Run);

    private static Property Run(int[] script)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var origin = time.GetTimestamp();
        var breaker = new Breaker(BreakerFirst(time));
        using var bucket = new TokenBucketLimiter(BucketFirst(time));
        var budget = new RetryBudget(BudgetFirst());
        var lastGood = new LastKnownGood<string, int>(CompositeModel.MaxAge, capacity: 16, timeProvider: time);
        var model = new CompositeModel(BreakerFirst(time), BucketFirst(time), BudgetFirst(), origin);
        var raised = new List<(CircuitState, CircuitState, CircuitTransitionReason, uint, long, long, long, TimeSpan?)>();
        breaker.Transitioned += (_, t) => raised.Add((t.From, t.To, t.Reason, t.Generation, t.Window.Calls, t.Window.Failures, t.Window.SlowCalls, t.BreakDuration));
        var served = new List<FallbackServed>();
        var retry = new RetryStrategy(RetryFirst(budget));
        var timeout = new TimeoutStrategy(new TimeoutOptions { Timeout = model.Timeout, TimeProvider = time });

        // Every strategy judges alike: an InvalidOperationException, a timeout and a negative result are failures; an
        // ArgumentException is nobody's. The fallback lets timeouts through to the caller.
        Func<Outcome<int>, bool> handled = static o => o.Exception is InvalidOperationException or TimeoutRejectedException || (o.Exception is null && o.Result < 0);
        var pipeline = new ResiliencePipelineBuilder<int> { TimeProvider = time }
            .AddFallback(
                new FallbackOptions<int>
                {
                    Levels = { lastGood.AsLevel(static state => ((ScriptedCall)state!).Key), FallbackLevel<int>.FromValue(LevelNames[1], CompositeModel.StaticValue) },
                    OnServed = served.Add,
                },
                static o => o.Exception is InvalidOperationException || (o.Exception is null && o.Result < 0))
            .AddStrategy(retry, handled)
            .AddCircuitBreaker(breaker, handled)
            .AddRateLimiter(bucket)
            .AddStrategy(timeout)
            .Build();
        using var caller = new CancellationTokenSource();
        var step = 0;
        foreach (var raw in script)
        {
            step++;
            var command = raw % 10;
            var argument = raw / 10;
            var now = time.GetTimestamp();
            switch (command)
            {
                case <= 4:
                    {
                        // Up to three attempts, each one of the nine kinds; a key of two; a caller token or none (a
                        // caller who cancels, in an attempt or in a retry delay, has one of its own); the synchronous
                        // form, every other time, for scripts whose attempts all complete at once.
                        var kinds = new AttemptKind[1 + (argument % 3)];
                        for (var i = 0; i < kinds.Length; i++)
                        {
                            kinds[i] = (AttemptKind)(argument / 3 / (int)Math.Pow(9, i) % 9);
                        }

                        var key = argument / 2187 % 2 == 0 ? "a" : "b";
                        var cancelInDelay = argument / 17496 % 2 == 1;
                        using var cancelling = kinds.Contains(AttemptKind.Cancelled) || cancelInDelay ? new CancellationTokenSource() : null;
                        var cancellable = cancelling is not null || argument / 4374 % 2 == 1;
                        // (A synchronous call blocks in a retry delay, which only this thread could end: the form is used
                        // while the retry has no delay to wait.)
                        var synchronous = argument / 8748 % 2 == 1 && kinds.All(k => k <= AttemptKind.Unhandled) && !model.RetryRejections;
                        var call = new ScriptedCall(key, 100 + step, kinds);
                        var servedBefore = served.Count;

                        // The model first: the driver waits out the retry delays it expects.
                        var expected = model.Call(key, call.Value, kinds, cancellable, cancelInDelay, now);
                        var token = cancelling?.Token ?? (cancellable ? caller.Token : CancellationToken.None);
                        var (outcome, stalled) = Drive(pipeline, call, time, token, cancelling, cancelInDelay ? cancelling : null, expected.Delays, synchronous);
                        if (stalled is not null)
                        {
                            return Fail(step, $"{stalled}; model: {expected}");
                        }

                        if (Differs(outcome, call, time, token, served, servedBefore, expected) is { } why)
                        {
                            return Fail(step, $"[{string.Join(", ", kinds)}] key {key}{(cancellable ? ", cancellable" : string.Empty)}{(synchronous ? ", sync" : string.Empty)}: {why}");
                        }

                        break;
                    }

                case 5:
                case 6:
                    time.Advance(TimeSpan.FromMilliseconds(argument % 700));
                    break;

                case 7:
                    // Isolated less often than closed, so that isolation does not take over the script.
                    switch (argument % 6)
                    {
                        case 0:
                            breaker.Isolate();
                            model.Breaker.Isolate(now);
                            break;
                        case 1:
                        case 2:
                            breaker.Close();
                            model.Breaker.Close(now);
                            break;
                        default:
                            time.Advance(TimeSpan.FromSeconds(1));
                            break;
                    }

                    break;

                case 8:
                    {
                        var options = argument % 2 == 0 ? BreakerFirst(time) : BreakerSecond(time);
                        breaker.UpdateOptions(options);
                        model.Breaker.Update(options, now);
                        break;
                    }

                default:
                    switch (argument % 6)
                    {
                        case 0:
                            bucket.UpdateOptions(BucketFirst(time));
                            model.Bucket.Update(BucketFirst(time), now);
                            break;
                        case 1:
                            bucket.UpdateOptions(BucketSecond(time));
                            model.Bucket.Update(BucketSecond(time), now);
                            break;
                        case 2:
                            budget.UpdateOptions(BudgetFirst());
                            model.Budget.Update(BudgetFirst());
                            break;
                        case 3:
                            budget.UpdateOptions(BudgetSecond());
                            model.Budget.Update(BudgetSecond());
                            break;
                        case 4 when argument % 12 == 4:
                        case 5 when argument % 12 == 5:
                            var timeoutNow = TimeSpan.FromMilliseconds(argument % 12 == 4 ? 160 : 80);
                            timeout.UpdateOptions(new TimeoutOptions { Timeout = timeoutNow, TimeProvider = time });
                            model.UpdateTimeout(timeoutNow);
                            break;
                        default:
                            var retries = argument % 6 == 4;
                            retry.UpdateOptions(retries ? RetryFirst(budget) : RetrySecond(budget));
                            model.RetryRejections = retries;
                            break;
                    }

                    break;
            }

            if (Observed(breaker, bucket, budget, raised, model, time.GetTimestamp()) is { } differs)
            {
                return Fail(step, differs);
            }
        }

        return true.ToProperty();
    }

    /// <summary>
    /// Runs a call to its end: completes each attempt that waits as its kind says (advancing the clock by its duration;
    /// an attempt that waits for its token, a millisecond at a time until the timeout cancels it, or its caller cancels),
    /// and advances the clock by each retry delay the model expects when the call waits with no attempt in flight,
    /// waiting (bounded) for the pipeline to reach its next attempt or its end after each. Returns why it stalled, if it did.
    /// </summary>
    private static (Outcome<int> Outcome, string? Stalled) Drive(
        ResiliencePipeline<int> pipeline, ScriptedCall call, FakeTimeProvider time, CancellationToken token, CancellationTokenSource? cancel, CancellationTokenSource? cancelInDelay, IReadOnlyList<TimeSpan> delays, bool synchronous)
    {
        if (synchronous)
        {
            return (pipeline.ExecuteOutcome(static (c, ct) => c.Invoke(ct), call, token), null);
        }

        var task = pipeline.ExecuteOutcomeAsync(static (c, ct) => c.InvokeAsync(ct), call, token).AsTask();
        _ = task.ContinueWith(static (_, c) => ((ScriptedCall)c!).Moved.Release(), call, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        var delay = 0;
        for (var moves = 0; moves <= (2 * CompositeModel.MaxRetryAttempts) + 2; moves++)
        {
            while (!call.Resting(task))
            {
                // The pipeline continues on the thread that completes what it waits for (this one): with no attempt
                // in flight, it waits for a retry delay's timer.
                if (call.Moved.Wait(TimeSpan.Zero))
                {
                    continue;
                }

                if (delay < delays.Count)
                {
                    break;
                }

                if (!call.Moved.Wait(TimeSpan.FromSeconds(10)))
                {
                    return (default, $"the call neither ended nor made its next attempt after {call.Invocations} attempt(s)");
                }
            }

            if (task.IsCompleted)
            {
                return (task.GetAwaiter().GetResult(), null);
            }

            if (!call.Resting(task))
            {
                if (cancelInDelay is { } inDelay)
                {
                    inDelay.Cancel();
                }
                else
                {
                    time.Advance(delays[delay]);
                }

                delay++;
                continue;
            }

            var pending = call.Pending!;
            switch (call.PendingKind)
            {
                case AttemptKind.Quick:
                    time.Advance(TimeSpan.FromMilliseconds(40));
                    pending.SetResult(call.Value);
                    break;
                case AttemptKind.Slow:
                    time.Advance(TimeSpan.FromMilliseconds(120));
                    pending.SetResult(call.Value);
                    break;
                case AttemptKind.Late:
                    time.Advance(TimeSpan.FromMilliseconds(200));
                    pending.SetResult(call.Value);
                    break;
                case AttemptKind.Cancelled:
                    cancel!.Cancel();
                    break;
                default:
                    for (var waited = 0; waited < 400 && !pending.Task.IsCompleted; waited++)
                    {
                        time.Advance(TimeSpan.FromMilliseconds(1));
                    }

                    if (!pending.Task.IsCompleted)
                    {
                        return (default, $"attempt {call.Invocations} waited 400 ms for its token and was never cancelled");
                    }

                    break;
            }
        }

        return (default, $"the call did not end after {call.Invocations} attempt(s)");
    }

    private static string? Differs(Outcome<int> outcome, ScriptedCall call, FakeTimeProvider time, CancellationToken token, List<FallbackServed> served, int servedBefore, ExpectedCall expected)
    {
        var actual = outcome.IsSuccess
            ? $"value {outcome.Result} from {(outcome.FallbackLevel is { } level ? $"level {level}" : "the call")}"
            : outcome.IsRejected ? $"rejected ({outcome.Rejection.Reason})" : outcome.Exception!.GetType().Name;
        var told = served.Skip(servedBefore).Select(s => $"{s.LevelName} replacing {s.Failure?.GetType().Name ?? "a failed result"} (retry-after {(s.Failure as ResilienceException)?.RetryAfter})");
        var summary = $"{call.Invocations} attempt(s), {actual}, ending at {time.GetTimestamp()}; served [{string.Join(", ", told)}] vs model {expected}";
        if (call.Invocations != expected.Attempts || time.GetTimestamp() != expected.End)
        {
            return summary;
        }

        if (expected.Exception is { } type)
        {
            // The caller's own cancellation reaches it as such, with its token.
            return outcome.IsSuccess || outcome.IsRejected || outcome.Exception!.GetType() != type || served.Count != servedBefore
                || (outcome.Exception is OperationCanceledException cancelled && cancelled.CancellationToken != token)
                || (outcome.Exception is TimeoutRejectedException timedOut && timedOut.Timeout != expected.TimedOutAfter)
                ? summary
                : null;
        }

        if (!outcome.IsSuccess || outcome.Result != expected.Value || outcome.FallbackLevel != expected.Level)
        {
            return summary;
        }

        if (expected.Level is not { } servedBy)
        {
            return served.Count == servedBefore ? null : summary;
        }

        return served.Count == servedBefore + 1 && served[^1] is var last && last.LevelName == LevelNames[servedBy]
            && last.Failure?.GetType() == expected.Replaced.Type && (last.Failure as ResilienceException)?.RetryAfter == expected.Replaced.RetryAfter
            ? null
            : summary;
    }

    private static string? Observed(
        Breaker breaker,
        TokenBucketLimiter bucket,
        RetryBudget budget,
        List<(CircuitState, CircuitState, CircuitTransitionReason, uint, long, long, long, TimeSpan?)> raised,
        CompositeModel model,
        long now)
    {
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

        if (!raised.SequenceEqual(model.Breaker.Transitions))
        {
            return $"transitions [{string.Join(", ", raised)}] vs model [{string.Join(", ", model.Breaker.Transitions)}]";
        }

        var statistics = bucket.GetStatistics()!;
        var limiter = (statistics.CurrentAvailablePermits, statistics.TotalSuccessfulLeases, statistics.TotalFailedLeases);
        var expectedLimiter = (model.Bucket.Available(now), model.Bucket.Leases, model.Bucket.Failures);
        if (limiter != expectedLimiter)
        {
            return $"bucket (available, leases, failures) {limiter} vs model {expectedLimiter}";
        }

        return budget.Balance != model.Budget.Balance / 1000.0 ? $"budget {budget.Balance} vs model {model.Budget.Balance / 1000.0}" : null;
    }

    private static Property Fail(int step, string why) => false.Label($"step {step}: {why}");
}
