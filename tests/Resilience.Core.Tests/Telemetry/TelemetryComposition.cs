namespace Resilience.Tests.Telemetry;

/// <summary>
/// Which built-in strategies an instrumented pipeline of <see cref="TelemetryModelTests"/> holds, outermost first, and
/// how it is called: a fallback chain (typed pipelines only), a retry (with or without a retry budget, with or without a
/// delay of its own), a circuit breaker, a token bucket, a partitioned limiter (a token bucket per key), a concurrency
/// limiter and a timeout; the partitions may wait for a permit (a bucket's maximum wait). A fallback chain may start with a scripted level (<see cref="ScriptedFallbackLevel"/>) that
/// serves or fails, at once or later, and that sends the chain on to its next levels when it fails, or not.
/// </summary>
internal sealed record TelemetryComposition(
    bool Typed, bool Fallback, bool Retry, bool Budget, bool Breaker, bool Bucket, bool Partitioned, bool InFlight, bool Timeout, TimeSpan RetryDelay,
    bool ScriptedLevel, bool LevelTriesNext, bool PartitionWaits)
{
    /// <summary>Reads a composition from the bits of <paramref name="bits"/>.</summary>
    public static TelemetryComposition From(int bits)
    {
        var typed = (bits & 1) != 0;
        return new TelemetryComposition(
            Typed: typed,
            Fallback: typed && (bits & 2) != 0,
            Retry: (bits & 4) != 0,
            Budget: (bits & 8) != 0,
            Breaker: (bits & 16) != 0,
            Bucket: (bits & 32) != 0,
            Partitioned: (bits & 64) != 0,
            InFlight: (bits & 128) != 0,
            Timeout: (bits & 256) != 0,
            RetryDelay: (bits & 512) != 0 ? TimeSpan.FromMilliseconds(10) : TimeSpan.Zero,
            ScriptedLevel: typed && (bits & 2) != 0 && (bits & 1024) != 0,
            LevelTriesNext: (bits & 2048) != 0,
            PartitionWaits: (bits & 64) != 0 && (bits & 4096) != 0);
    }

    public override string ToString() =>
        (Typed ? "typed" : "untyped") + ":"
        + (Fallback ? $" fallback({(ScriptedLevel ? $"{ScriptedFallbackLevel.Name}{(LevelTriesNext ? " then next" : " alone")}, " : string.Empty)}last-known-good, fixed)" : string.Empty)
        + (Retry ? $" retry({RetryDelay.TotalMilliseconds} ms{(Budget ? ", budget" : string.Empty)})" : string.Empty)
        + (Breaker ? " breaker" : string.Empty)
        + (Bucket ? " bucket" : string.Empty)
        + (Partitioned ? PartitionWaits ? " partitioned(waiting)" : " partitioned" : string.Empty)
        + (InFlight ? " in-flight" : string.Empty)
        + (Timeout ? " timeout" : string.Empty);
}
