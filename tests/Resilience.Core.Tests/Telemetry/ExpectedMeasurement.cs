using System.Globalization;

namespace Resilience.Tests.Telemetry;

/// <summary>One measurement an instrument received (or must receive), or one event added to an activity, in one comparable line.</summary>
internal static class ExpectedMeasurement
{
    /// <summary>The line of a measurement: the instrument's name, the value (round-trip format) and the tags sorted by name.</summary>
    public static string Of(string instrument, double value, params (string Name, object? Value)[] tags) =>
        $"{instrument} {value.ToString("R", CultureInfo.InvariantCulture)} {{{string.Join(", ", tags.OrderBy(t => t.Name, StringComparer.Ordinal).Select(t => $"{t.Name}={t.Value}"))}}}";

    /// <summary>The line of an activity event: its name and its tags sorted by name (numbers in round-trip format).</summary>
    public static string Event(string name, params (string Name, object? Value)[] tags) =>
        $"{name} {{{string.Join(", ", tags.OrderBy(t => t.Name, StringComparer.Ordinal).Select(t => $"{t.Name}={(t.Value is double number ? number.ToString("R", CultureInfo.InvariantCulture) : t.Value)}"))}}}";

    /// <summary>The documented value of a state in the <c>from</c> and <c>to</c> tags.</summary>
    public static string Of(CircuitState state) => state switch
    {
        CircuitState.Closed => "closed",
        CircuitState.Open => "open",
        CircuitState.HalfOpen => "half_open",
        CircuitState.Isolated => "isolated",
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };

    /// <summary>The documented value of a transition's reason in the <c>reason</c> tag.</summary>
    public static string Of(CircuitTransitionReason reason) => reason switch
    {
        CircuitTransitionReason.FailureRatio => "failure_ratio",
        CircuitTransitionReason.SlowCallRatio => "slow_call_ratio",
        CircuitTransitionReason.ConsecutiveFailures => "consecutive_failures",
        CircuitTransitionReason.BreakElapsed => "break_elapsed",
        CircuitTransitionReason.ProbesSucceeded => "probes_succeeded",
        CircuitTransitionReason.ProbeFailed => "probe_failed",
        CircuitTransitionReason.ProbeTimedOut => "probe_timed_out",
        CircuitTransitionReason.Manual => "manual",
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };
}
