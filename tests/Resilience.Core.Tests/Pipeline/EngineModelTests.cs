using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Resilience.Telemetry;

namespace Resilience.Tests.Pipeline;

/// <summary>
/// Generated scenarios (strategies that admit, reject, throw, wait for admission, replace tokens, retry, fail, fall
/// back; predicates that may throw; callbacks that complete at once, later, fault or cancel) run through every execution
/// form, on pipelines short enough for the fast path's inline slots (two, and <see cref="SlotBuffer.Length"/>) and on a
/// long one (the general interpreter from the start): each run's trace of hooks, attempts and final outcome must be the
/// one <see cref="EngineModel"/> derives from the documented semantics.
/// </summary>
public class EngineModelTests
{
    // A fixed seed keeps the run reproducible; to replay a failure, put the seed FsCheck reports here (or drop Replay
    // and raise MaxTest to search further).
    private const string Seed = "(1414213562,1732050807)";

    internal static readonly ModelForm[] Forms = Enum.GetValues<ModelForm>();

    /// <summary>Whether <paramref name="form"/> runs calls that must not be repeated.</summary>
    internal static bool IsWithoutRetries(ModelForm form) => form.ToString().Contains("WithoutRetries", StringComparison.Ordinal);

    private static Gen<T> Weighted<T>(params (int Weight, T Value)[] choices) =>
        Gen.Frequency(choices.Select(choice => (choice.Weight, Gen.Constant(choice.Value))).ToArray());

    private static Gen<ModelEnterStep> EnterSteps =>
        from kind in Weighted(
            (8, ModelEnter.Admit), (2, ModelEnter.AdmitWithState), (1, ModelEnter.Reject), (1, ModelEnter.Throw), (2, ModelEnter.PendingAdmitNow),
            (2, ModelEnter.PendingAdmitLater), (1, ModelEnter.PendingRejectLater), (1, ModelEnter.PendingFaultNow), (1, ModelEnter.PendingFaultLater),
            (1, ModelEnter.PendingCancelled), (1, ModelEnter.PendingPending))
        from replace in Gen.Elements(false, false, true)
        select new ModelEnterStep(kind, replace);

    private static Gen<ModelExit> ExitKinds(bool retries) =>
        Weighted(
            (8, ModelExit.Continue), (retries ? 3 : 0, ModelExit.RetryNow), (retries ? 2 : 0, ModelExit.RetryAfterDelay), (1, ModelExit.Fail), (1, ModelExit.Throw),
            (1, ModelExit.FallbackNow), (1, ModelExit.FallbackLater), (1, ModelExit.FallbackThrows), (1, ModelExit.FallbackFaultsLater));

    private static Gen<ModelExitStep> ExitSteps(bool retries) =>
        from kind in ExitKinds(retries)
        from replace in Gen.Elements(false, false, true)
        select new ModelExitStep(kind, replace);

    private static Gen<ModelStrategyScript> Scripts =>
        from enters in Gen.Choose(1, 3).SelectMany(count => Gen.ArrayOf(EnterSteps, count))
        from exits in Gen.Choose(0, 2).SelectMany(count => Gen.ArrayOf(ExitSteps(retries: true), count))

        // The last exit step repeats: it must not retry, so a call ends.
        from last in ExitSteps(retries: false)
        from judge in Weighted((4, ModelJudge.Default), (2, ModelJudge.HandleAll), (2, ModelJudge.HandleNone), (1, ModelJudge.Throw))
        from observe in Weighted((6, ModelObserve.None), (2, ModelObserve.Observe), (1, ModelObserve.Throw))
        select new ModelStrategyScript(enters, [.. exits, last], judge, observe);

    internal static Arbitrary<ModelScenario> Scenarios =>
        (from count in Gen.Choose(1, 4)
         from strategies in Gen.ArrayOf(Scripts, count)
         from calls in Gen.Choose(1, 4).SelectMany(length => Gen.ArrayOf(Gen.Elements(Enum.GetValues<ModelCall>()), length))
         from paddingAt in Gen.Choose(0, count)
         from cancelledAtStart in Weighted((9, false), (1, true))
         select new ModelScenario(strategies, calls, paddingAt, cancelledAtStart)).ToArbitrary();

    [Property(MaxTest = 300, Replay = Seed)]
    public Property Every_form_and_path_runs_a_scenario_as_the_reference_model_does() =>
        Prop.ForAll(Scenarios, scenario => CheckAllAsync(scenario));

    private static async Task CheckAllAsync(ModelScenario scenario)
    {
        var count = scenario.Strategies.Length;
        int[] lengths = [.. new[] { count, SlotBuffer.Length, SlotBuffer.Length + 1 }.Where(length => length >= count).Distinct()];
        foreach (var form in Forms)
        {
            var typed = form.ToString().StartsWith("Typed", StringComparison.Ordinal);
            var isVoid = form.ToString().Contains("Void", StringComparison.Ordinal);
            var synchronous = !form.ToString().Contains("Async", StringComparison.Ordinal);
            var (expected, beforeWaiting) = EngineModel.Expect(scenario, typed, isVoid, form == ModelForm.ExecuteSingleAttemptOutcomeAsync, IsWithoutRetries(form));
            foreach (var length in lengths)
            {
                var (actual, offCallerThread) = await RunAsync(scenario, form, length).ConfigureAwait(false);
                if (!actual.SequenceEqual(expected))
                {
                    Assert.Fail($"{form}, {length} strategies, scenario:\n{scenario}\nexpected:\n{string.Join("\n", expected)}\nactual:\n{string.Join("\n", actual)}");
                }

                // The synchronous forms step the whole call on the caller's thread; the asynchronous ones until it first waits.
                var stray = offCallerThread.FirstOrDefault(line => synchronous || line < beforeWaiting, -1);
                if (stray >= 0)
                {
                    Assert.Fail($"{form}, {length} strategies: '{actual[stray]}' ran off the caller's thread, scenario:\n{scenario}\ntrace:\n{string.Join("\n", actual)}");
                }
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="scenario"/> once through <paramref name="form"/> on a pipeline of <paramref name="length"/>
    /// strategies; instrumented by <paramref name="telemetry"/> when given, with <paramref name="lineAdded"/> told of
    /// every line of the trace as it is recorded.
    /// </summary>
    internal static async Task<(IReadOnlyList<string> Trace, IReadOnlyList<int> OffCallerThread)> RunAsync(
        ModelScenario scenario, ModelForm form, int length, ResilienceTelemetry? telemetry = null, Action<int>? lineAdded = null)
    {
        using var run = new ModelRun(scenario) { LineAdded = lineAdded };
        var strategies = scenario.Strategies.Select((script, index) => new ModelStrategy(index, script, run)).ToArray();
        var clock = new ModelClock();
        var typed = new ResiliencePipelineBuilder<ModelValue> { Name = ModelStrategy.PipelineName, TimeProvider = clock };
        var untyped = new ResiliencePipelineBuilder { Name = ModelStrategy.PipelineName, TimeProvider = clock };
        if (telemetry is not null)
        {
            typed.AddTelemetry(telemetry);
            untyped.AddTelemetry(telemetry);
        }

        for (var index = 0; index <= strategies.Length; index++)
        {
            if (index == scenario.PaddingAt)
            {
                for (var padding = length - strategies.Length; padding > 0; padding--)
                {
                    typed.AddStrategy(new PassThrough());
                    untyped.AddStrategy(new PassThrough());
                }
            }

            if (index < strategies.Length)
            {
                AddScripted(typed, untyped, strategies[index], scenario.Strategies[index].Judge, run);
            }
        }

        var described = await ExecuteAsync(form, typed.Build(), untyped.Build(), run).ConfigureAwait(false);
        run.Add($"=> {described}{(clock.Reads == 0 ? string.Empty : $" !clock read {clock.Reads} times")}");
        return (run.Trace, run.OffCallerThread);
    }

    private static void AddScripted(ResiliencePipelineBuilder<ModelValue> typed, ResiliencePipelineBuilder untyped, ModelStrategy strategy, ModelJudge judge, ModelRun run)
    {
        if (judge == ModelJudge.Default)
        {
            typed.AddStrategy(strategy);
            untyped.AddStrategy(strategy);
            return;
        }

        bool Decide() => judge switch
        {
            ModelJudge.HandleAll => true,
            ModelJudge.HandleNone => false,
            _ => throw run.Raise(new NotSupportedException($"judge {strategy.Name}#{strategy.Exits}")),
        };

        typed.AddStrategy(strategy, outcome =>
        {
            run.Add($"judge {strategy.Name} {ModelStrategy.Describe(in outcome)}");
            return Decide();
        });
        untyped.AddStrategy(strategy, exception =>
        {
            run.Add($"judge {strategy.Name} {ModelStrategy.Describe(exception)}");
            return Decide();
        });
    }

    private static async Task<string> ExecuteAsync(ModelForm form, ResiliencePipeline<ModelValue> typed, ResiliencePipeline untyped, ModelRun run)
    {
        var token = run.Tokens.CallerSource.Token;
        switch (form)
        {
            case ModelForm.TypedExecuteOutcomeAsync:
                return Describe(run, await typed.ExecuteOutcomeAsync(static (run, token) => run.CallAsync(run, token), run, token).ConfigureAwait(false));
            case ModelForm.TypedExecuteOutcome:
                return Describe(run, typed.ExecuteOutcome(static (run, token) => run.CallSync(run, token), run, token));
            case ModelForm.ExecuteOutcomeAsync:
                return Describe(run, await untyped.ExecuteOutcomeAsync(static (run, token) => run.CallAsync(run, token), run, token).ConfigureAwait(false));
            case ModelForm.ExecuteSingleAttemptOutcomeAsync:
                return Describe(run, await untyped.ExecuteSingleAttemptOutcomeAsync(static (run, token) => run.CallAsync(run, token), run, token).ConfigureAwait(false));
            case ModelForm.ExecuteOutcome:
                return Describe(run, untyped.ExecuteOutcome(static (run, token) => run.CallSync(run, token), run, token));
            case ModelForm.TypedExecuteWithoutRetriesOutcomeAsync:
                return Describe(run, await typed.ExecuteWithoutRetriesOutcomeAsync(static (run, token) => run.CallAsync(run, token), run, token).ConfigureAwait(false));
            case ModelForm.TypedExecuteWithoutRetriesOutcome:
                return Describe(run, typed.ExecuteWithoutRetriesOutcome(static (run, token) => run.CallSync(run, token), run, token));
            case ModelForm.ExecuteWithoutRetriesOutcomeAsync:
                return Describe(run, await untyped.ExecuteWithoutRetriesOutcomeAsync(static (run, token) => run.CallAsync(run, token), run, token).ConfigureAwait(false));
        }

        Task task;
        try
        {
            task = form switch
            {
                ModelForm.TypedExecuteAsyncWithState => typed.ExecuteAsync(static (run, token) => run.CallAsync(run, token), run, token).AsTask(),
                ModelForm.TypedExecuteAsync => typed.ExecuteAsync(token => run.CallAsync(null, token), token).AsTask(),
                ModelForm.TypedExecuteWithState => Task.FromResult(typed.Execute(static (run, token) => run.CallSync(run, token), run, token)),
                ModelForm.TypedExecute => Task.FromResult(typed.Execute(token => run.CallSync(null, token), token)),
                ModelForm.ExecuteAsyncWithState => untyped.ExecuteAsync(static (run, token) => run.CallAsync(run, token), run, token).AsTask(),
                ModelForm.ExecuteAsync => untyped.ExecuteAsync(token => run.CallAsync(null, token), token).AsTask(),
                ModelForm.ExecuteAsyncVoidWithState => untyped.ExecuteAsync(static (run, token) => Void(run.CallAsync(run, token)), run, token).AsTask(),
                ModelForm.ExecuteAsyncVoid => untyped.ExecuteAsync(token => Void(run.CallAsync(null, token)), token).AsTask(),
                ModelForm.ExecuteWithState => Task.FromResult(untyped.Execute(static (run, token) => run.CallSync(run, token), run, token)),
                ModelForm.Execute => Task.FromResult(untyped.Execute(token => run.CallSync(null, token), token)),
                ModelForm.ExecuteVoidWithState => Completed(() => untyped.Execute(static (run, token) => { _ = run.CallSync(run, token); }, run, token)),
                _ => Completed(() => untyped.Execute(token => { _ = run.CallSync(null, token); }, token)),
            };
        }
        catch (Exception thrown)
        {
            return run.DescribeFinal(thrown);
        }

        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception thrown)
        {
            // An asynchronous form ends a call that ended in a cancellation with a cancelled task, others with a faulted one.
            var state = (thrown is OperationCanceledException) == task.IsCanceled ? string.Empty : $" ({task.Status})";
            return run.DescribeFinal(thrown) + state;
        }

        return $"result {(task is Task<ModelValue> result ? result.Result.Name : "ok")}";
    }

    /// <summary>An outcome as the model describes it; a failure must be the very exception its raiser threw.</summary>
    private static string Describe<TResult>(ModelRun run, in Outcome<TResult> outcome) =>
        outcome.IsRejected || outcome.IsSuccess ? ModelStrategy.Describe(in outcome) : run.DescribeFinal(outcome.Exception!);

    /// <summary>The callback as one that returns nothing, completing (or throwing) as it does.</summary>
    private static ValueTask Void(ValueTask<ModelValue> call) => call.IsCompletedSuccessfully ? default : new ValueTask(call.AsTask());

    private static Task Completed(Action execute)
    {
        execute();
        return Task.CompletedTask;
    }

    private sealed class PassThrough : ResilienceStrategy
    {
    }
}
