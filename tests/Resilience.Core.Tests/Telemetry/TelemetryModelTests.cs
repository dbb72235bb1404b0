using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;
using Resilience.Tests.Composite;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// Model-based test of the measurements of instrumented pipelines: random compositions of the built-in strategies
/// (<see cref="TelemetryComposition"/>), typed and untyped, run random scripts of calls (attempts that succeed, fail with
/// a handled exception thrown synchronously, a faulted task completed later or a result judged a failure, fail with an
/// exception nobody handles or one that makes the predicates judging it throw, complete later, wait until the timeout
/// cuts them short, or are cancelled by their caller, in an attempt, a retry delay or a limiter's queue; through the
/// asynchronous and synchronous forms, throwing and returning an outcome, a synchronous call that waits (a retry's
/// delay, a bucket's, a partition's or the concurrency limiter's queue) blocking a thread of its own while the driver
/// moves the clock, the limiters' queued gauges read meanwhile), fallback chains whose first level serves (a value, or
/// a placeholder its predicate calls a failure) or fails (thrown, a faulted task) at once or later, or waits until its
/// caller cancels, and sends the chain on or not (its exception must surface as itself, the failure it replaced
/// attached), time advances, manual isolation and closing,
/// the concurrency limiter's one permit held outside the pipeline (without a queue it refuses every call; with one, a
/// call waits until the permit is given back) and given back, and live option changes of the breaker, the bucket (with
/// and without a maximum wait), the concurrency limiter (with and without a queue), the budget, the timeout and the
/// retry, on a fake clock. The pipeline reports to a private <see cref="ResilienceTelemetry"/>, its breaker tracked, and a listener
/// takes every measurement. After every step the measurements taken (instrument, value and tags) must be exactly those
/// <see cref="TelemetryModel"/> computes from the script and the documentation, each with the tags docs/telemetry.md
/// gives its instrument; and each call runs in an activity, which must receive exactly the events the documentation
/// says (a rejection with its retry-after when known, a retry scheduled with its delay, a fallback with its level, a
/// timeout with its length, a tracked breaker's transition the call caused), with their documented tags. The breaker,
/// the limiters and the budget are tracked, and their gauges, read after every step, must report what the model holds.
/// </summary>
// Activity listeners are process-wide: the tests that add them to the Resilience source run one at a time.
[Collection(ActivityListenerCollection.Name)]
public class TelemetryModelTests
{
    private const string CallSource = "telemetry-model-tests";

    // The composed-strategies model's option sets, named as the measurements' tags expect.
    private static CircuitBreakerOptions BreakerFirst(TimeProvider time) => Named(CompositePipelineModelTests.BreakerFirst(time));

    private static CircuitBreakerOptions BreakerSecond(TimeProvider time) => Named(CompositePipelineModelTests.BreakerSecond(time));

    private static CircuitBreakerOptions Named(CircuitBreakerOptions options)
    {
        options.Name = TelemetryModel.BreakerName;
        return options;
    }

    private static TokenBucketLimiterOptions BucketFirst(TimeProvider time) => CompositePipelineModelTests.BucketFirst(time);

    private static TokenBucketLimiterOptions BucketSecond(TimeProvider time) => CompositePipelineModelTests.BucketSecond(time);

    // A bucket that waits up to 250 ms for a permit before it refuses the call.
    private static TokenBucketLimiterOptions BucketWaiting(TimeProvider time) => new() { PermitsPerSecond = 10, Burst = 2, MaxWait = TimeSpan.FromMilliseconds(250), TimeProvider = time };

    // With waits, a partition waits up to 250 ms for a permit before it refuses the call.
    private static TokenBucketLimiterOptions Partition(TimeProvider time, bool waits) =>
        new() { PermitsPerSecond = 5, Burst = 2, MaxWait = waits ? TimeSpan.FromMilliseconds(250) : TimeSpan.Zero, TimeProvider = time };

    // One permit; with a queue, room for one call, which waits up to a second (the driver gives the permit back first).
    private static InFlightLimiterOptions InFlight(TimeProvider time, bool queue) =>
        new() { PermitLimit = 1, QueueLimit = queue ? 1 : 0, QueueTimeout = TimeSpan.FromSeconds(1), TimeProvider = time };

    private static RetryBudgetOptions BudgetFirst() => new() { MaxTokens = 6, TokenRatio = 0.5 };

    private static RetryBudgetOptions BudgetSecond() => new() { MaxTokens = 4, TokenRatio = 0.2 };

    private static RetryOptions Retry(TelemetryComposition composition, RetryBudget budget, bool rejections) => new()
    {
        Name = TelemetryModel.RetryName,
        MaxRetryAttempts = TelemetryModel.MaxRetryAttempts,
        Backoff = RetryBackoff.Constant,
        Delay = composition.RetryDelay,
        UseJitter = false,
        MaxRetryAfter = TelemetryModel.MaxRetryAfter,
        RetryRateLimited = rejections,
        RetryBrokenCircuit = rejections,
        Budget = composition.Budget ? budget : null,
    };

    // The first number picks the composition; each other is a step: its last digit picks the command, the rest (0-199999) is its argument.
    [Property(MaxTest = 1000, EndSize = 80, Replay = "(5520113,1876543211)")]
    public Property Measurements_agree_with_the_reference_for_random_compositions() =>
        Prop.ForAll(Gen.Choose(0, 1_999_999).ArrayOf().ToArbitrary(), script => Run(script));

    private static Property Run(int[] script)
    {
        var composition = TelemetryComposition.From(script.Length > 0 ? script[0] : 0);
        var time = new ArmingTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var telemetry = new ResilienceTelemetry();
        using var recorder = new MeasurementRecorder(telemetry.Meter);
        using var listener = new ActivityListener
        {
            ShouldListenTo = static source => source.Name is CallSource or ResilienceTelemetry.ActivitySourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var calls = new ActivitySource(CallSource);
        var model = new TelemetryModel(composition, BreakerFirst(time), BucketFirst(time), Partition(time, composition.PartitionWaits), BudgetFirst(), time.GetTimestamp());
        var breaker = new Breaker(BreakerFirst(time));
        using var tracking = telemetry.Track(breaker);
        using var bucket = new TokenBucketLimiter(BucketFirst(time));
        using var inFlight = new InFlightLimiter(InFlight(time, queue: false));
        RateLimitLease? held = null;
        using var partitioned = new BoundedPartitionedLimiter<string>(_ => new TokenBucketLimiter(Partition(time, composition.PartitionWaits)));
        var budget = new RetryBudget(BudgetFirst());
        using var trackedBucket = telemetry.Track(bucket, TelemetryModel.BucketName);
        using var trackedInFlight = telemetry.Track(inFlight, TelemetryModel.InFlightName);
        using var trackedPartitions = telemetry.Track(partitioned, TelemetryModel.PartitionedName);
        using var trackedBudget = telemetry.Track(budget, TelemetryModel.BudgetName);
        var retry = new RetryStrategy(Retry(composition, budget, rejections: true));
        var timeout = new TimeoutStrategy(new TimeoutOptions { Name = TelemetryModel.TimeoutName, Timeout = model.Timeout, TimeProvider = time });
        var key = new StrongBox<string>("a");
        var secondary = new ScriptedFallbackLevel();
        var pipeline = Build(composition, time, telemetry, breaker, bucket, partitioned, inFlight, retry, timeout, key, secondary);
        var label = composition.ToString();

        var step = 0;
        foreach (var raw in script.Skip(1))
        {
            step++;
            var command = raw % 10;
            var argument = raw / 10;
            var now = time.GetTimestamp();
            var did = $"command {command}";
            switch (command)
            {
                case <= 4:
                    {
                        var kinds = new AttemptKind[1 + (argument % 3)];
                        for (var i = 0; i < kinds.Length; i++)
                        {
                            kinds[i] = (AttemptKind)(argument / 3 / (int)Math.Pow(11, i) % 11) switch
                            {
                                // Attempts that ignore their token: another model's concern.
                                AttemptKind.Slow or AttemptKind.Late => AttemptKind.Quick,
                                AttemptKind.Hang when !composition.Timeout => AttemptKind.Quick,
                                var kind => kind,
                            };
                        }

                        key.Value = argument / 3993 % 2 == 0 ? "a" : "b";
                        // One call in eleven or so: its caller cancelled before it started (it runs nothing).
                        var cancelledAtStart = (argument + step) % 11 == 0;
                        var cancelInDelay = argument / 7986 % 2 == 1 && !cancelledAtStart;
                        var call = new ScriptedCall(key.Value, 100 + step, kinds);
                        secondary.Kind = (FallbackLevelKind)((argument / 63888 + step) % 7);
                        var (waits, end, ending) = model.Call(key.Value, call.Value, kinds, cancelInDelay, now, secondary.Kind, cancelledAtStart);

                        // A synchronous call's attempts all complete at once (its callback cannot return a pending task).
                        // One that blocks (a retry's delay, a limiter's queue, a fallback level that completes later) runs
                        // on a thread of its own, and the driver waits until it rests there before it moves the clock.
                        var synchronous = argument / 15972 % 2 == 1 && kinds.All(k => k is <= AttemptKind.Unhandled or AttemptKind.Poison);
                        var blocking = synchronous && (waits.Count > 0 || model.LevelCompletedLater);
                        var throwing = argument / 31944 % 2 == 1;
                        did = $"[{string.Join(", ", kinds)}] key {key.Value}{(cancelledAtStart ? ", cancelled at start" : cancelInDelay ? ", cancelled in a delay" : string.Empty)}{(synchronous ? blocking ? ", sync on a thread of its own" : ", sync" : ", async")}{(throwing ? ", throwing" : ", outcome")}"
                            + $"{(composition.ScriptedLevel ? $", {ScriptedFallbackLevel.Name} {secondary.Kind}" : string.Empty)}: model {ending}, waits [{string.Join(", ", waits)}], ending at {end}";
                        using var caller = new CancellationTokenSource();
                        if (cancelledAtStart)
                        {
                            caller.Cancel();
                        }

                        // The held permit given back as a call waits for it: that call takes it.
                        void Release()
                        {
                            held!.Dispose();
                            held = null;
                        }

                        using (var activity = calls.StartActivity("call")!)
                        {
                            // While the call waits in a limiter's queue, that queue's gauge counts it.
                            string? InWait(ExpectedWait wait)
                            {
                                var queued = recorder.Observe().Where(line => line.StartsWith("resilience.rate_limiter.queued ", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
                                List<string> expectedQueued =
                                [
                                    ExpectedMeasurement.Of("resilience.rate_limiter.queued", wait.Queue == TelemetryModel.BucketName ? 1 : 0, ("strategy", TelemetryModel.BucketName)),
                                    ExpectedMeasurement.Of("resilience.rate_limiter.queued", wait.Queue == TelemetryModel.InFlightName ? 1 : 0, ("strategy", TelemetryModel.InFlightName)),
                                ];
                                return queued.SequenceEqual(expectedQueued.Order(StringComparer.Ordinal), StringComparer.Ordinal)
                                    ? null
                                    : $"gauges [{string.Join("; ", queued)}] vs model [{string.Join("; ", expectedQueued)}]";
                            }

                            if (Drive(pipeline, call, secondary, time, caller, cancelInDelay, waits, Release, InWait, synchronous, blocking, throwing, out var failure) is { } stalled)
                            {
                                return Fail(label, step, $"{did}: {stalled}");
                            }

                            // A level's exception surfaces as itself, with the failure it replaced attached when that was an exception.
                            if (model.LevelFailureSurfaced
                                && (failure is null || !ReferenceEquals(failure, secondary.Thrown) || failure.Data[FallbackStrategy<int>.OriginalFailureKey] is Exception != model.OriginalFailureAttached))
                            {
                                return Fail(label, step, $"{did}: the call ended with {failure?.GetType().Name ?? "no exception"} (original attached: {failure?.Data[FallbackStrategy<int>.OriginalFailureKey] is Exception}), the level's failure expected (original attached: {model.OriginalFailureAttached})");
                            }

                            // The transitions the call caused are on its activity.
                            model.TakeTransitions(inCall: true);
                            var events = activity.Events
                                .Select(e => ExpectedMeasurement.Event(e.Name, [.. e.Tags.Select(tag => (tag.Key, tag.Value))]))
                                .Order(StringComparer.Ordinal)
                                .ToList();
                            var expectedEvents = model.ExpectedEvents.Order(StringComparer.Ordinal).ToList();
                            model.ExpectedEvents.Clear();
                            if (!events.SequenceEqual(expectedEvents, StringComparer.Ordinal))
                            {
                                return Fail(label, step, $"{did}: events [{string.Join("; ", events)}] vs model [{string.Join("; ", expectedEvents)}]");
                            }
                        }

                        if (time.GetTimestamp() != end)
                        {
                            return Fail(label, step, $"{did}: the call ended at {time.GetTimestamp()}");
                        }

                        break;
                    }

                case 5:
                case 6:
                    time.Advance(TimeSpan.FromMilliseconds(argument % 700));
                    break;

                case 7:
                    switch (argument % 6)
                    {
                        case 0 when composition.Breaker:
                            breaker.Isolate();
                            model.Breaker!.Isolate(now);
                            break;
                        case 1 when composition.Breaker:
                        case 2 when composition.Breaker:
                            breaker.Close();
                            model.Breaker!.Close(now);
                            break;
                        case 3 when composition.InFlight:
                            // The limiter's one permit, taken or given back outside the pipeline.
                            if (held is null)
                            {
                                held = inFlight.AttemptAcquire();
                            }
                            else
                            {
                                held.Dispose();
                                held = null;
                            }

                            model.InFlightHeld = held is not null;
                            break;
                        default:
                            time.Advance(TimeSpan.FromSeconds(1));
                            break;
                    }

                    break;

                case 8:
                    if (composition.Breaker)
                    {
                        var options = argument % 2 == 0 ? BreakerFirst(time) : BreakerSecond(time);
                        breaker.UpdateOptions(options);
                        model.Breaker!.Update(options, now);
                    }

                    break;

                default:
                    switch (argument % 6)
                    {
                        case 0 when composition.Bucket:
                        case 1 when composition.Bucket:
                            var bucketOptions = (argument / 6 % 3) switch { 0 => BucketFirst(time), 1 => BucketSecond(time), _ => BucketWaiting(time) };
                            bucket.UpdateOptions(bucketOptions);
                            model.Bucket!.Update(bucketOptions, now);
                            break;
                        case 2 when model.Budget is not null:
                            var budgetOptions = argument % 2 == 0 ? BudgetFirst() : BudgetSecond();
                            budget.UpdateOptions(budgetOptions);
                            model.Budget.Update(budgetOptions);
                            break;
                        case 3:
                            var timeoutNow = TimeSpan.FromMilliseconds(argument % 2 == 0 ? 100 : 60);
                            timeout.UpdateOptions(new TimeoutOptions { Name = TelemetryModel.TimeoutName, Timeout = timeoutNow, TimeProvider = time });
                            model.UpdateTimeout(timeoutNow);
                            break;
                        case 5 when composition.InFlight:
                            var queue = argument / 6 % 2 == 1;
                            inFlight.UpdateOptions(InFlight(time, queue));
                            model.InFlightQueue = queue;
                            break;
                        case 4:
                            var rejections = argument % 2 == 0;
                            retry.UpdateOptions(Retry(composition, budget, rejections));
                            model.RetryRejections = rejections;
                            break;
                    }

                    break;
            }

            model.TakeTransitions(inCall: false);
            if (recorder.TakeDifferences(model.Expected) is { } why)
            {
                return Fail(label, step, $"{did}: {why}");
            }

            var gauges = recorder.Observe().Order(StringComparer.Ordinal).ToList();
            var expectedGauges = model.Gauges(time.GetTimestamp(), BucketFirst(time).Burst, BudgetFirst().MaxTokens).Order(StringComparer.Ordinal).ToList();
            if (!gauges.SequenceEqual(expectedGauges, StringComparer.Ordinal))
            {
                return Fail(label, step, $"{did}: gauges [{string.Join("; ", gauges)}] vs model [{string.Join("; ", expectedGauges)}]");
            }
        }

        return true.ToProperty();
    }

    private static object Build(
        TelemetryComposition composition, FakeTimeProvider time, ResilienceTelemetry telemetry, Breaker breaker, TokenBucketLimiter bucket,
        BoundedPartitionedLimiter<string> partitioned, InFlightLimiter inFlight, RetryStrategy retry, TimeoutStrategy timeout, StrongBox<string> key,
        ScriptedFallbackLevel secondary)
    {
        ResiliencePipelineBuilderBase builder;
        if (composition.Typed)
        {
            // A timeout and an InvalidOperationException are failures, and so is a negative result; an ArgumentException
            // is nobody's. The fallback lets timeouts through.
            Func<Outcome<int>, bool> handled = static o => o.Exception is NotSupportedException ? throw new FormatException("a predicate that throws")
                : o.Exception is InvalidOperationException or TimeoutRejectedException || (o.Exception is null && o.Result < 0);
            var typed = new ResiliencePipelineBuilder<int> { Name = TelemetryModel.Pipeline, TimeProvider = time }.AddTelemetry(telemetry);
            if (composition.Fallback)
            {
                var lastGood = new LastKnownGood<string, int>(TelemetryModel.MaxAge, timeProvider: time);
                var options = new FallbackOptions<int>();
                if (composition.ScriptedLevel)
                {
                    options.Levels.Add(secondary.AsLevel(composition.LevelTriesNext));
                }

                options.Levels.Add(lastGood.AsLevel(static state => ((ScriptedCall)state!).Key, TelemetryModel.LevelNames[0]));
                options.Levels.Add(FallbackLevel<int>.FromValue(TelemetryModel.LevelNames[1], TelemetryModel.StaticValue));
                typed.AddFallback(
                    options,
                    static o => o.Exception is NotSupportedException ? throw new FormatException("a predicate that throws")
                        : o.Exception is InvalidOperationException || (o.Exception is null && o.Result < 0));
            }

            if (composition.Retry)
            {
                typed.AddStrategy(retry, handled);
            }

            if (composition.Breaker)
            {
                typed.AddCircuitBreaker(breaker, handled);
            }

            builder = typed;
        }
        else
        {
            Func<Exception, bool> handled = static e => e is NotSupportedException ? throw new FormatException("a predicate that throws") : e is InvalidOperationException or TimeoutRejectedException;
            var untyped = new ResiliencePipelineBuilder { Name = TelemetryModel.Pipeline, TimeProvider = time }.AddTelemetry(telemetry);
            if (composition.Retry)
            {
                untyped.AddStrategy(retry, handled);
            }

            if (composition.Breaker)
            {
                untyped.AddCircuitBreaker(breaker, handled);
            }

            builder = untyped;
        }

        if (composition.Bucket)
        {
            builder.AddRateLimiter(bucket, name: TelemetryModel.BucketName);
        }

        if (composition.Partitioned)
        {
            builder.AddRateLimiter(partitioned, () => key.Value!, waitForPermit: composition.PartitionWaits, name: TelemetryModel.PartitionedName);
        }

        if (composition.InFlight)
        {
            builder.AddRateLimiter(inFlight, name: TelemetryModel.InFlightName);
        }

        if (composition.Timeout)
        {
            builder.AddStrategy(timeout);
        }

        return builder is ResiliencePipelineBuilder<int> built ? built.Build() : ((ResiliencePipelineBuilder)builder).Build();
    }

    /// <summary>
    /// Starts a call through <paramref name="pipeline"/> in the form asked; the task ends when the call does, and
    /// <paramref name="failure"/> then holds the exception the call ended with (thrown or in its outcome), if any. A
    /// <paramref name="blocking"/> synchronous call runs on a thread of its own, which it blocks while it waits.
    /// </summary>
    private static Task Start(object pipeline, ScriptedCall call, CancellationToken token, bool synchronous, bool blocking, bool throwing, StrongBox<Exception?> failure)
    {
        if (!synchronous)
        {
            return Caught(pipeline, call, token, throwing, failure);
        }

        if (!blocking)
        {
            failure.Value = Blocked(pipeline, call, token, throwing);
            return Task.CompletedTask;
        }

        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            failure.Value = Blocked(pipeline, call, token, throwing);
            ended.SetResult();
        })
        { IsBackground = true, Name = "blocking call" };
        thread.Start();
        return ended.Task;

        static Exception? Blocked(object pipeline, ScriptedCall call, CancellationToken token, bool throwing)
        {
            try
            {
                switch (pipeline)
                {
                    case ResiliencePipeline<int> typed when throwing:
                        typed.Execute(static (c, ct) => c.Invoke(ct), call, token);
                        return null;
                    case ResiliencePipeline<int> typed:
                        return typed.ExecuteOutcome(static (c, ct) => c.Invoke(ct), call, token).Exception;
                    case ResiliencePipeline untyped when throwing:
                        untyped.Execute(static (c, ct) => c.Invoke(ct), call, token);
                        return null;
                    default:
                        return ((ResiliencePipeline)pipeline).ExecuteOutcome(static (c, ct) => c.Invoke(ct), call, token).Exception;
                }
            }
            catch (Exception exception)
            {
                return exception;
            }
        }

        static async Task Caught(object pipeline, ScriptedCall call, CancellationToken token, bool throwing, StrongBox<Exception?> failure)
        {
            try
            {
                switch (pipeline)
                {
                    case ResiliencePipeline<int> typed when throwing:
                        await typed.ExecuteAsync(static (c, ct) => c.InvokeAsync(ct), call, token);
                        break;
                    case ResiliencePipeline<int> typed:
                        failure.Value = (await typed.ExecuteOutcomeAsync(static (c, ct) => c.InvokeAsync(ct), call, token)).Exception;
                        break;
                    case ResiliencePipeline untyped when throwing:
                        await untyped.ExecuteAsync(static (c, ct) => c.InvokeAsync(ct), call, token);
                        break;
                    default:
                        failure.Value = (await ((ResiliencePipeline)pipeline).ExecuteOutcomeAsync(static (c, ct) => c.InvokeAsync(ct), call, token)).Exception;
                        break;
                }
            }
            catch (Exception exception)
            {
                failure.Value = exception;
            }
        }
    }

    /// <summary>
    /// Runs a call to its end: completes each attempt that waits as its kind says (one that waits for its token, a
    /// millisecond at a time until the timeout cancels it, or its caller cancels) and a fallback level that completes
    /// later 40 ms on, and, when the call rests in a wait (a
    /// retry's delay, a bucket's queue), advances the clock by the next wait the model expects (or the caller cancels it),
    /// waiting (bounded) for the pipeline to reach its next resting point after each, whatever thread it continues on;
    /// <paramref name="inWait"/> tells what is wrong while it rests in a wait, if anything.
    /// Returns why it stalled, if it did; <paramref name="failure"/>: the exception the call ended with, if any.
    /// </summary>
    private static string? Drive(
        object pipeline, ScriptedCall call, ScriptedFallbackLevel level, ArmingTimeProvider time, CancellationTokenSource caller, bool cancelInDelay, IReadOnlyList<ExpectedWait> waits,
        Action release, Func<ExpectedWait, string?> inWait, bool synchronous, bool blocking, bool throwing, out Exception? failure)
    {
        var ended = new StrongBox<Exception?>();
        failure = null;
        var armed = time.Armed;
        var levelPending = level.Pending;
        time.OnArmed = () => call.Moved.Release();
        try
        {
            var task = Start(pipeline, call, caller.Token, synchronous, blocking, throwing, ended);
            _ = task.ContinueWith(static (_, c) => ((ScriptedCall)c!).Moved.Release(), call, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            var waited = 0;
            for (var moves = 0; moves <= (4 * TelemetryModel.MaxRetryAttempts) + 4; moves++)
            {
                while (!task.IsCompleted && call.Pending is not { Task.IsCompleted: false } && ReferenceEquals(level.Pending, levelPending) && time.Armed - armed <= waited)
                {
                    if (!call.Moved.Wait(TimeSpan.FromSeconds(10)))
                    {
                        return $"the call neither ended, nor made its next attempt, nor waited after {call.Invocations} attempt(s) (armed {time.Armed - armed}, waited {waited}, at {time.GetTimestamp()})";
                    }
                }

                if (task.IsCompleted)
                {
                    failure = ended.Value;
                    return time.Armed - armed == waited ? null : $"the call armed {time.Armed - armed} wait(s), {waited} expected";
                }

                if (!ReferenceEquals(level.Pending, levelPending))
                {
                    levelPending = level.Pending;
                    time.Advance(TimeSpan.FromMilliseconds(40));
                    level.Complete(caller);
                    continue;
                }

                if (call.Pending is { Task.IsCompleted: false } pending)
                {
                    switch (call.PendingKind)
                    {
                        case AttemptKind.Quick:
                            time.Advance(TimeSpan.FromMilliseconds(40));
                            pending.SetResult(call.Value);
                            break;
                        case AttemptKind.Cancelled:
                            caller.Cancel();
                            break;
                        case AttemptKind.FaultsLater:
                            time.Advance(TimeSpan.FromMilliseconds(40));
                            pending.SetException(new InvalidOperationException("scripted failure, completed later"));
                            break;
                        default:
                            for (var ms = 0; ms < 400 && !pending.Task.IsCompleted; ms++)
                            {
                                time.Advance(TimeSpan.FromMilliseconds(1));
                            }

                            if (!pending.Task.IsCompleted)
                            {
                                return $"attempt {call.Invocations} waited 400 ms for its token and was never cancelled";
                            }

                            break;
                    }

                    continue;
                }

                if (waited >= waits.Count)
                {
                    return $"the call waits a {waited + 1}th time after {call.Invocations} attempt(s); the model expects {waits.Count} wait(s)";
                }

                if (inWait(waits[waited]) is { } wrong)
                {
                    return $"in its wait for {waits[waited]}: {wrong}";
                }

                if (cancelInDelay)
                {
                    caller.Cancel();
                }
                else if (waits[waited].ReleasesPermit)
                {
                    release();
                }
                else
                {
                    time.Advance(waits[waited].Delay);
                }

                waited++;
            }

            return $"the call did not end after {call.Invocations} attempt(s)";
        }
        finally
        {
            time.OnArmed = null;
        }
    }

    private static Property Fail(string composition, int step, string why) => false.Label($"{composition}; step {step}: {why}");
}
