namespace Resilience.Tests.Telemetry;

/// <summary>Mistakes a configuration change of <see cref="ReloadTelemetryModelTests"/> may carry; each rejects the change as a whole.</summary>
[Flags]
internal enum ReloadFault
{
    None = 0,

    /// <summary>The retry's <c>MaxRetryAttempts</c> is -1, out of [0, 100].</summary>
    RetryAttemptsOutOfRange = 1,

    /// <summary>The breaker's <c>FailureRatio</c> is 1.5, out of (0, 1].</summary>
    FailureRatioOutOfRange = 2,

    /// <summary>The bucket's <c>Burst</c> is 0, out of its range (a push in force for the bucket stands in for it).</summary>
    BurstOutOfRange = 4,

    /// <summary>The bucket's <c>PermitsPerSecond</c> is <c>fast</c>, not a number (a mistake whatever is pushed).</summary>
    UnparsableRate = 8,

    /// <summary>The second strategy is <c>Bulkhead</c>, which is not a strategy type.</summary>
    UnknownStrategyType = 16,

    /// <summary>Every key of the section is emptied (a file being rewritten reads so): rejected, whatever else it says.</summary>
    Emptied = 32,
}
