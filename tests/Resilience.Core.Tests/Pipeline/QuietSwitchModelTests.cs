using System.Diagnostics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Resilience.Telemetry;
using Resilience.Tests.Telemetry;

namespace Resilience.Tests.Pipeline;

/// <summary>
/// The engine model's scenarios (<see cref="EngineModelTests"/>) run through instrumented pipelines while a meter
/// listener and an activity listener come and go: before the call, and while it is in flight (as a strategy returns a
/// pending entry, the callback returns a task that completes later, a retry asks for a delay, a fallback serves later).
/// Whatever the listeners do, every hook, token and outcome must be the engine model's; the measurements and activity
/// events must be those <see cref="ModelTelemetry"/> derives from docs/telemetry.md.
/// </summary>
// Activity listeners are process-wide: the tests that add them to the Resilience source run one at a time.
[Collection(ActivityListenerCollection.Name)]
public sealed class QuietSwitchModelTests
{
    // A fixed seed keeps the run reproducible (FsCheck's gamma must be odd); to replay a failure, put the seed FsCheck
    // reports here (or drop Replay and raise MaxTest to search further).
    private const string Seed = "(2718281828,3141592653)";

    private const string CallerSourceName = "quiet-switch-model-tests";

    private static Gen<ModelToggle> Toggles =>
        from afterLine in Gen.Choose(0, 9)
        from listener in Gen.Elements(ModelListener.Meter, ModelListener.Meter, ModelListener.Activity)
        from attach in Gen.Elements(true, false)
        select new ModelToggle(afterLine, listener, attach);

    private static Arbitrary<(ModelScenario Scenario, ModelListening Listening)> Cases =>
        (from generated in EngineModelTests.Scenarios.Generator

         // Now and then the telemetry strategy alone: its quiet core has no strategy at all.
         from alone in Gen.Frequency((7, Gen.Constant(false)), (1, Gen.Constant(true)))
         let scenario = alone ? generated with { Strategies = [], PaddingAt = 0 } : generated
         from meterAtStart in Gen.Elements(true, false)
         from activityAtStart in Gen.Elements(true, false)
         from toggles in Gen.Choose(0, 3).SelectMany(count => Gen.ArrayOf(Toggles, count))
         select (scenario, new ModelListening(meterAtStart, activityAtStart, toggles))).ToArbitrary();

    [Property(MaxTest = 300, Replay = Seed)]
    public Property Listeners_that_come_and_go_change_no_call_and_see_what_the_documentation_says() =>
        Prop.ForAll(Cases, testCase => CheckAllAsync(testCase.Scenario, testCase.Listening));

    private static async Task CheckAllAsync(ModelScenario scenario, ModelListening listening)
    {
        using var callerListener = new ActivityListener
        {
            ShouldListenTo = static source => source.Name == CallerSourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(callerListener);
        using var callerSource = new ActivitySource(CallerSourceName);

        var count = scenario.Strategies.Length;

        // With its telemetry strategy the pipeline is one strategy longer than its quiet core: both fit the inline
        // slots, or only the quiet core does, or neither.
        int[] lengths = [.. new[] { count, SlotBuffer.Length - 1, SlotBuffer.Length }.Where(length => length >= count).Distinct()];
        foreach (var form in EngineModelTests.Forms)
        {
            var typed = form.ToString().StartsWith("Typed", StringComparison.Ordinal);
            var isVoid = form.ToString().Contains("Void", StringComparison.Ordinal);
            var singleAttempt = form == ModelForm.ExecuteSingleAttemptOutcomeAsync;
            var withoutRetries = EngineModelTests.IsWithoutRetries(form);
            var (engineTrace, _) = EngineModel.Expect(scenario, typed, isVoid, singleAttempt, withoutRetries);
            var (expected, expectedMeasurements, expectedEvents) = ModelTelemetry.Expect(scenario, engineTrace, listening, typed, refusesRetries: singleAttempt || withoutRetries);
            foreach (var length in lengths)
            {
                using var telemetry = new ResilienceTelemetry();
                using var listeners = new ModelListeners(telemetry.Meter, listening);
                using var activity = callerSource.StartActivity("call")!;
                var (actual, _) = await EngineModelTests.RunAsync(scenario, form, length, telemetry, ToggleAfter).ConfigureAwait(false);
                listeners.Dispose();
                var measurements = listeners.Measurements;
                var events = ModelListeners.EventsOf(activity);
                if (!actual.SequenceEqual(expected) || !measurements.SequenceEqual(expectedMeasurements) || !events.SequenceEqual(expectedEvents))
                {
                    Assert.Fail(
                        $"{form}, {length} strategies, {listening}, scenario:\n{scenario}\nexpected:\n{string.Join("\n", expected)}\nactual:\n{string.Join("\n", actual)}"
                        + $"\nexpected measurements:\n{string.Join("\n", expectedMeasurements)}\nactual measurements:\n{string.Join("\n", measurements)}"
                        + $"\nexpected events:\n{string.Join("\n", expectedEvents)}\nactual events:\n{string.Join("\n", events)}");
                }

                void ToggleAfter(int line)
                {
                    foreach (var toggle in listening.Toggles.Where(toggle => toggle.AfterLine == line))
                    {
                        listeners.Set(toggle.Listener, toggle.On);
                    }
                }
            }
        }
    }
}
