namespace Resilience.Telemetry;

/// <summary>The tag names and values every instrument and event uses (OpenTelemetry style: lowercase, snake case values).</summary>
internal static class TelemetryTags
{
    public const string Pipeline = "pipeline";

    /// <summary>The key of a pipeline's instance (<c>GetPipeline(name, instanceKey)</c>); absent for its single instance.</summary>
    public const string Instance = "pipeline.instance";
    public const string Strategy = "strategy";
    public const string Outcome = "outcome";
    public const string Reason = "reason";
    public const string From = "from";
    public const string To = "to";
    public const string Level = "level";
    public const string Result = "result";

    public static string Of(CircuitState state) => state switch
    {
        CircuitState.Closed => "closed",
        CircuitState.Open => "open",
        CircuitState.HalfOpen => "half_open",
        _ => "isolated",
    };

    public static string Of(CircuitTransitionReason reason) => reason switch
    {
        CircuitTransitionReason.FailureRatio => "failure_ratio",
        CircuitTransitionReason.SlowCallRatio => "slow_call_ratio",
        CircuitTransitionReason.ConsecutiveFailures => "consecutive_failures",
        CircuitTransitionReason.BreakElapsed => "break_elapsed",
        CircuitTransitionReason.ProbesSucceeded => "probes_succeeded",
        CircuitTransitionReason.ProbeFailed => "probe_failed",
        CircuitTransitionReason.ProbeTimedOut => "probe_timed_out",
        _ => "manual",
    };

    public static string Of(RejectionReason reason) => reason switch
    {
        RejectionReason.BrokenCircuit => "broken_circuit",
        RejectionReason.IsolatedCircuit => "isolated_circuit",
        RejectionReason.RateLimited => "rate_limited",
        _ => "custom",
    };
}
