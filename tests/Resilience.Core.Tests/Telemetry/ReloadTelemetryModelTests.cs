using System.Runtime.CompilerServices;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Resilience.DependencyInjection;
using Resilience.Tests.DependencyInjection;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// Model-based test of the configuration reloads' telemetry: a container (<c>services.AddResilience()</c>) serves
/// pipeline <c>orders</c> from an in-memory configuration, and random scripts change it (signalled, or followed by
/// <c>Reload()</c>; a new order of strategies rebuilds the pipeline), signal it unchanged, push options for its bucket (in range or not), mix in mistakes (values out of
/// range, a number that does not read, an unknown strategy type, an emptied section), advance the fake clock, and call through the
/// pipeline. After every step each reload's count and tag, its log, <c>LastReload</c> (provider and health report), the
/// health and the bucket's gauges must be what <see cref="ReloadModel"/> computes from docs/configuration.md and
/// docs/telemetry.md; and the calls' measurements (retries, refusals, call counts) must follow the settings in force,
/// the last good ones after a rejected change.
/// </summary>
public class ReloadTelemetryModelTests
{
    // Each number is a step: its last digit picks the command, the rest (0-199999) is its argument; the first also
    // gives the settings the container starts with (without mistakes).
    [Property(MaxTest = 400, EndSize = 60, Replay = "(2718281,3141592653)")]
    public Property Reload_measurements_logs_and_settings_agree_with_the_reference() =>
        Prop.ForAll(Gen.Choose(0, 1_999_999).ArrayOf().ToArbitrary(), script => Run(script));

    private static Property Run(int[] script)
    {
        var initial = ReloadSettings.From(script.Length > 0 ? script[0] / 10 : 0) with { Faults = ReloadFault.None };
        using var container = new TestContainer(initial.Values().ToDictionary(v => v.Key, v => (string?)v.Value));
        var provider = container.Provider;
        var time = container.Time;
        using var recorder = new MeasurementRecorder(container.Telemetry.Meter);
        var model = new ReloadModel(initial, time.GetTimestamp());
        var pipeline = provider.GetPipeline(ReloadModel.Pipeline);
        var label = $"starting with {initial}";

        var step = 0;
        foreach (var raw in script.Skip(1))
        {
            step++;
            var command = raw % 10;
            var argument = raw / 10;
            string did;
            switch (command)
            {
                case <= 3:
                    {
                        var failing = argument % 4;
                        var synchronous = argument / 4 % 2 == 0;
                        var ending = model.Call(failing, time.GetTimestamp());
                        var attempts = new ScriptedAttempts(failing);
                        Outcome<int> outcome;
                        if (synchronous)
                        {
                            outcome = pipeline.ExecuteOutcome(static (a, _) => a.Attempt(), attempts);
                        }
                        else
                        {
                            // A call that never waits has completed when it returns.
                            var ended = new StrongBox<Outcome<int>>();
                            if (!CallAsync(pipeline, attempts, ended).IsCompleted)
                            {
                                return Fail(label, step, "an asynchronous call that never waits did not complete at once");
                            }

                            outcome = ended.Value;
                        }

                        did = $"call failing {failing} time(s), {(synchronous ? "sync" : "async")}: model {ending}, the call ended with {outcome.Exception?.GetType().Name ?? "a result"} after {attempts.Made} attempt(s)";
                        break;
                    }

                case 4:
                    time.Advance(TimeSpan.FromMilliseconds(argument % 1500));
                    did = $"advance {argument % 1500} ms";
                    break;

                case 5:
                case 6:
                case 7:
                    {
                        var next = ReloadSettings.From(argument);
                        foreach (var (key, value) in next.Values())
                        {
                            container.Configuration[key] = value;
                        }

                        var explicitly = command == 7;
                        model.Configure(next, explicitly, time.GetTimestamp(), time.GetUtcNow());
                        if (explicitly)
                        {
                            provider.Reload();
                        }
                        else
                        {
                            container.Configuration.Reload();
                        }

                        did = $"configuration {(explicitly ? "changed, Reload()" : "changed and signalled")}: {next}";
                        break;
                    }

                case 8:
                    // A signal of the whole configuration that leaves the section as it was: no reload.
                    container.Configuration["Logging:LogLevel:Default"] = argument % 2 == 0 ? "Information" : "Warning";
                    container.Configuration.Reload();
                    did = "configuration signalled, the section unchanged";
                    break;

                default:
                    {
                        var rate = ReloadSettings.Rates[argument % 3];
                        var burst = argument / 3 % 4 == 3 ? 0 : ReloadSettings.Bursts[argument / 3 % 4];
                        model.Push(rate, burst, time.GetTimestamp(), time.GetUtcNow());
                        var result = provider.UpdateOptions(ReloadModel.BucketKey, new TokenBucketLimiterOptions { PermitsPerSecond = rate, Burst = burst });
                        did = $"pushed {rate}/s, burst {burst}: {(result.IsApplied ? "applied" : "rejected")}";
                        break;
                    }
            }

            did += $" (in force: {model.InForce})";
            if (recorder.TakeDifferences(model.Expected) is { } measurements)
            {
                return Fail(label, step, $"{did}: {measurements}");
            }

            if (DiffersInLogs(container, model, provider) is { } logs)
            {
                return Fail(label, step, $"{did}: {logs}");
            }

            if (DiffersInLastReload(provider, model) is { } reload)
            {
                return Fail(label, step, $"{did}: {reload}");
            }

            var gauges = recorder.Observe().Where(line => line.EndsWith($"{{strategy={ReloadModel.BucketName}}}", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
            List<string> expectedGauges =
            [
                ExpectedMeasurement.Of("resilience.rate_limiter.permits_available", model.Available(time.GetTimestamp()), ("strategy", ReloadModel.BucketName)),
                ExpectedMeasurement.Of("resilience.rate_limiter.queued", 0, ("strategy", ReloadModel.BucketName)),
            ];
            if (!gauges.SequenceEqual(expectedGauges.Order(StringComparer.Ordinal), StringComparer.Ordinal))
            {
                return Fail(label, step, $"{did}: gauges [{string.Join("; ", gauges)}] vs model [{string.Join("; ", expectedGauges)}]");
            }
        }

        return true.ToProperty();

        static async Task CallAsync(ResiliencePipeline pipeline, ScriptedAttempts attempts, StrongBox<Outcome<int>> ended) =>
            ended.Value = await pipeline.ExecuteOutcomeAsync(static (a, _) => ValueTask.FromResult(a.Attempt()), attempts);
    }

    /// <summary>The reloads' logs since the last look: an applied one's message in full, a rejected one's with every error of <c>LastReload</c>.</summary>
    private static string? DiffersInLogs(TestContainer container, ReloadModel model, ResiliencePipelineProvider provider)
    {
        var logs = new List<string>();
        foreach (var record in container.Logs.Collector.GetSnapshot(clear: true).Where(r => r.Category == "Resilience"))
        {
            if (record.Id.Name == "ReloadRejected" && provider.LastReload is { IsApplied: false } rejected)
            {
                var message = $"Resilience settings from {rejected.Source} were rejected as a whole; the last good settings stay in force. {rejected.Errors.Count} error(s), one per line:\n{string.Join('\n', rejected.Errors)}";
                logs.Add(record.Message == message ? $"{record.Level} {record.Id.Name}" : $"{record.Level} {record.Id.Name} {record.Message}");
            }
            else
            {
                logs.Add($"{record.Level} {record.Id.Name} {record.Message}");
            }
        }

        var expected = model.ExpectedLogs.ToList();
        model.ExpectedLogs.Clear();
        return logs.SequenceEqual(expected, StringComparer.Ordinal)
            ? null
            : $"logged [{string.Join("; ", logs)}] vs model [{string.Join("; ", expected)}]";
    }

    private static string? DiffersInLastReload(ResiliencePipelineProvider provider, ReloadModel model)
    {
        var health = provider.GetHealth();
        if (health.IsHealthy == model.ConfigurationRejected)
        {
            return $"healthy {health.IsHealthy}; the configuration's last reading {(model.ConfigurationRejected ? "was rejected" : "was not rejected")}";
        }

        var actual = provider.LastReload;
        if (!ReferenceEquals(actual, health.LastReload))
        {
            return $"the health report's LastReload ({health.LastReload}) is not the provider's ({actual})";
        }

        if (model.LastReload is not { } expected)
        {
            return actual is null ? null : $"LastReload {actual}, none expected";
        }

        if (actual is null)
        {
            return $"no LastReload, {expected} expected";
        }

        if ((actual.Source, actual.IsApplied, actual.UpdatedStrategies, actual.RebuiltPipelines, actual.Time) != (expected.Source, expected.Applied, expected.Updated, expected.Rebuilt, expected.Time))
        {
            return $"LastReload ({actual.Source}, applied {actual.IsApplied}, {actual.UpdatedStrategies} updated, {actual.RebuiltPipelines} rebuilt, at {actual.Time:O}) vs model ({expected.Source}, applied {expected.Applied}, {expected.Updated} updated, {expected.Rebuilt} rebuilt, at {expected.Time:O})";
        }

        // Every mistake is named (by its first key), and every error names one of them.
        var errors = actual.Errors;
        if (expected.Applied != (errors.Count == 0)
            || expected.Mistakes.Any(keys => !errors.Any(error => error.Contains(keys[0], StringComparison.Ordinal)))
            || errors.Any(error => !expected.Mistakes.Any(keys => keys.Any(key => error.Contains(key, StringComparison.Ordinal)))))
        {
            return $"errors [{string.Join(" | ", errors)}] vs mistakes [{string.Join(", ", expected.Mistakes.Select(keys => string.Join(" or ", keys)))}]";
        }

        return null;
    }

    private static Property Fail(string label, int step, string why) => false.Label($"{label}; step {step}: {why}");
}
