using Microsoft.Extensions.Logging;

namespace Resilience.Telemetry;

/// <summary>Source-generated log messages: no formatting and no allocation unless the level is enabled.</summary>
internal static partial class TelemetryLog
{
    [LoggerMessage(EventId = 1, EventName = "CircuitOpened", Level = LogLevel.Warning,
        Message = "Circuit breaker '{Breaker}' opened from {From} ({Reason}): {Failures} failures and {SlowCalls} slow calls of {Calls}; open for {BreakDuration}.")]
    public static partial void CircuitOpened(ILogger logger, string breaker, string from, string reason, long failures, long slowCalls, long calls, TimeSpan? breakDuration);

    [LoggerMessage(EventId = 2, EventName = "CircuitTransitioned", Level = LogLevel.Information,
        Message = "Circuit breaker '{Breaker}' moved from {From} to {To} ({Reason}).")]
    public static partial void CircuitTransitioned(ILogger logger, string breaker, string from, string to, string reason);

    [LoggerMessage(EventId = 3, EventName = "ReloadApplied", Level = LogLevel.Information,
        Message = "Resilience settings reloaded from {Source}: {Updated} live strategies updated in place, {Rebuilt} pipelines rebuilt.")]
    public static partial void ReloadApplied(ILogger logger, string source, int updated, int rebuilt);

    [LoggerMessage(EventId = 4, EventName = "ReloadRejected", Level = LogLevel.Error,
        Message = "Resilience settings from {Source} were rejected as a whole; the last good settings stay in force. {ErrorCount} error(s), one per line:\n{Errors}")]
    public static partial void ReloadRejected(ILogger logger, string source, int errorCount, string errors);

    [LoggerMessage(EventId = 5, EventName = "ReportFailed", Level = LogLevel.Warning,
        Message = "A listener threw while a {Report} of '{Source}' was reported; the measurement was dropped and the call went on.")]
    public static partial void ReportFailed(ILogger logger, string report, string source, Exception exception);

    [LoggerMessage(EventId = 6, EventName = "JudgementFailed", Level = LogLevel.Warning,
        Message = "A predicate threw while the result of a call through '{Pipeline}' was judged for its call count; the call was counted as a success and went on with its result.")]
    public static partial void JudgementFailed(ILogger logger, string pipeline, Exception exception);
}
