namespace Resilience;

/// <summary>A validated, immutable copy of <see cref="CircuitBreakerOptions"/> in the units the breaker computes with.</summary>
internal sealed class CircuitBreakerSettings
{
    public CircuitBreakerSettings(CircuitBreakerOptions options)
    {
        options.Validate();
        Options = options.Clone();
        FailureRatio = options.FailureRatio;
        MinimumThroughput = options.MinimumThroughput;
        BucketCount = options.BucketCount;
        BucketTicks = options.SamplingDuration.Ticks / options.BucketCount;
        SlowCallTicks = options.SlowCallDuration?.Ticks ?? 0;
        SlowCallRatio = options.SlowCallRatio;
        ConsecutiveFailures = options.ConsecutiveFailures;
        BreakTicks = options.BreakDuration.Ticks;
        BreakMultiplier = options.BreakDurationMultiplier;
        MaxBreakTicks = options.MaxBreakDuration.Ticks;
        Jitter = options.BreakDurationJitter;
        PermittedProbes = options.PermittedProbes;

        // The epsilon keeps a ratio such as 0.7 × 10 from rounding up to 8 through floating-point error.
        RequiredProbeSuccesses = Math.Max(1, (int)Math.Ceiling((options.ProbeSuccessRatio * options.PermittedProbes) - 1e-9));
        ProbeTimeoutTicks = (options.ProbeTimeout ?? options.BreakDuration).Ticks;
    }

    public CircuitBreakerOptions Options { get; }

    public double FailureRatio { get; }

    public int MinimumThroughput { get; }

    public int BucketCount { get; }

    public long BucketTicks { get; }

    /// <summary>0: slow-call tracking is off.</summary>
    public long SlowCallTicks { get; }

    public double SlowCallRatio { get; }

    /// <summary>0: the consecutive-failures trigger is off.</summary>
    public int ConsecutiveFailures { get; }

    public long BreakTicks { get; }

    public double BreakMultiplier { get; }

    public long MaxBreakTicks { get; }

    public double Jitter { get; }

    public int PermittedProbes { get; }

    public int RequiredProbeSuccesses { get; }

    public long ProbeTimeoutTicks { get; }
}
