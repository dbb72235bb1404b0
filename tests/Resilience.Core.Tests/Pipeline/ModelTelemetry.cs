using System.Text.RegularExpressions;
using Resilience.Tests.Telemetry;

namespace Resilience.Tests.Pipeline;

/// <summary>
/// What an instrumented run of a scenario must show, derived from <see cref="EngineModel"/>'s trace and who listened
/// when (docs/telemetry.md, "Listeners that come and go"): the call's trace is the engine model's whatever the listeners
/// do, but for the telemetry strategy's own judgement of a typed result when the call ran with it; the call is counted
/// (and timed) when a listener to the meter was attached as it started and is still attached as it ends; each event
/// inside the call is reported to whoever listens at that moment.
/// </summary>
internal static partial class ModelTelemetry
{
    private const string Pipeline = "model";

    /// <summary>The trace, measurements and activity events of the run.</summary>
    /// <param name="scenario">The scenario.</param>
    /// <param name="engineTrace">The engine model's trace of it (<see cref="EngineModel.Expect"/>), the final line last.</param>
    /// <param name="listening">Who listened when.</param>
    /// <param name="typed">Whether the pipeline is typed.</param>
    /// <param name="refusesRetries">Whether the call takes no retry (one attempt by nature, or one that must not be repeated).</param>
    public static (IReadOnlyList<string> Trace, IReadOnlyList<string> Measurements, IReadOnlyList<string> Events) Expect(
        ModelScenario scenario, IReadOnlyList<string> engineTrace, ModelListening listening, bool typed, bool refusesRetries)
    {
        // A call that starts while its counts are listened to runs with the telemetry strategy; otherwise without it.
        var instrumented = listening.MeterAtStart;
        var body = engineTrace.Take(engineTrace.Count - 1).ToList();
        var final = engineTrace[^1]["=> ".Length..];
        var outermostJudge = Array.FindIndex(scenario.Strategies, script => script.Judge != ModelJudge.Default);
        if (instrumented && typed && final.StartsWith("result ", StringComparison.Ordinal) && outermostJudge >= 0)
        {
            // The telemetry strategy's exit judges a typed result with the predicate of the outermost strategy with one.
            body.Add($"judge {ModelTokens.StrategyName(outermostJudge)} {final}");
        }

        var (meter, activity) = listening.After(body.Count);
        var measurements = new List<string>();
        var events = new List<string>();
        for (var line = 0; line < body.Count; line++)
        {
            if (EnterLine().Match(body[line]) is { Success: true } enter)
            {
                var index = int.Parse(enter.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                var visit = int.Parse(enter.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
                var enters = scenario.Strategies[index].Enters;
                var kind = enters[Math.Min(visit, enters.Length - 1)].Kind;
                if (kind is ModelEnter.Reject or ModelEnter.PendingRejectLater)
                {
                    Rejection(index, kind == ModelEnter.Reject, meter[line], activity[line], measurements, events);
                }
            }
            else if (ExitLine().Match(body[line]) is { Success: true } exit && !refusesRetries)
            {
                var index = int.Parse(exit.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                var visit = int.Parse(exit.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
                var exits = scenario.Strategies[index].Exits;
                var kind = exits[Math.Min(visit, exits.Length - 1)].Kind;
                if (kind is ModelExit.RetryNow or ModelExit.RetryAfterDelay)
                {
                    // The result the retry discards is disposed first; the retry is then scheduled and, its delay over
                    // (one cut short starts none), its attempt begins with the next strategy inward or the callback.
                    var last = line;
                    while (last + 1 < body.Count && body[last + 1].StartsWith("dispose ", StringComparison.Ordinal))
                    {
                        last++;
                    }

                    if (activity[last])
                    {
                        events.Add(ExpectedMeasurement.Event(
                            "resilience.retry", ("pipeline", Pipeline), ("strategy", ModelTokens.StrategyName(index)), ("delay", kind == ModelExit.RetryNow ? 0d : 0.001)));
                    }

                    var next = last + 1 < body.Count ? body[last + 1] : string.Empty;
                    var attempt = index == scenario.Strategies.Length - 1
                        ? next.StartsWith("call#", StringComparison.Ordinal)
                        : next.StartsWith($"enter {ModelTokens.StrategyName(index + 1)}#", StringComparison.Ordinal);
                    if (attempt && meter[last])
                    {
                        measurements.Add(ExpectedMeasurement.Of("resilience.retry.attempts", 1, ("pipeline", Pipeline), ("strategy", ModelTokens.StrategyName(index))));
                    }
                }
            }
        }

        if (instrumented && (body.Count == 0 ? listening.MeterAtStart : meter[^1]))
        {
            var outcome = OutcomeTag(scenario, body, final, typed && outermostJudge >= 0 ? scenario.Strategies[outermostJudge].Judge : ModelJudge.Default);
            measurements.Add(ExpectedMeasurement.Of("resilience.pipeline.calls", 1, ("pipeline", Pipeline), ("outcome", outcome)));
            measurements.Add(ExpectedMeasurement.Of("resilience.pipeline.duration", 0, ("pipeline", Pipeline), ("outcome", outcome)));
        }

        // The telemetry strategy reads the clock as the call enters and as it leaves, while the duration is listened to.
        var clock = instrumented ? " !clock read 2 times" : string.Empty;
        return ([.. body, $"=> {final}{clock}"], measurements, events);
    }

    private static void Rejection(int index, bool withRetryAfter, bool meter, bool activity, List<string> measurements, List<string> events)
    {
        var strategy = ModelTokens.StrategyName(index);
        if (meter)
        {
            measurements.Add(ExpectedMeasurement.Of("resilience.strategy.rejections", 1, ("pipeline", Pipeline), ("strategy", strategy), ("reason", "custom")));
        }

        if (activity)
        {
            (string, object?)[] tags = [("pipeline", Pipeline), ("strategy", strategy), ("reason", "custom")];
            events.Add(ExpectedMeasurement.Event("resilience.rejection", withRetryAfter ? [.. tags, ("retry_after", (double)(index + 1))] : tags));
        }
    }

    /// <summary>The call's <c>outcome</c> tag, from how it ended for the caller.</summary>
    private static string OutcomeTag(ModelScenario scenario, List<string> body, string final, ModelJudge telemetryJudge)
    {
        if (final.StartsWith("rejected by ", StringComparison.Ordinal))
        {
            return "rejected";
        }

        if (final.StartsWith("result ", StringComparison.Ordinal))
        {
            // A predicate that throws while judging for the count is logged, and the result counted as a success.
            return telemetryJudge == ModelJudge.HandleAll ? "failure" : "success";
        }

        var attempts = body.Count(line => line.StartsWith("call#", StringComparison.Ordinal));
        var callerCancelled = scenario.CancelledAtStart
            || Enumerable.Range(0, attempts).Any(attempt => scenario.Calls[Math.Min(attempt, scenario.Calls.Length - 1)] == ModelCall.CancelCaller);
        var type = final[..final.IndexOf(' ', StringComparison.Ordinal)];
        return callerCancelled && type is nameof(OperationCanceledException) or nameof(TaskCanceledException) ? "cancelled" : "failure";
    }

    [GeneratedRegex(@"^enter s(\d+)#(\d+) ")]
    private static partial Regex EnterLine();

    [GeneratedRegex(@"^exit s(\d+)#(\d+) ")]
    private static partial Regex ExitLine();
}
