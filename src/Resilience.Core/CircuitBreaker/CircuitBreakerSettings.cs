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
        SamplingDuration = options.SamplingDuration;
        SlowCallMilliseconds = options.SlowCallDuration is { } slow ? Math.Max(1, (long)Math.Ceiling(slow.TotalMilliseconds)) : 0;
        SlowCallRatio = options.SlowCallRatio;
        ConsecutiveFailures = options.ConsecutiveFailures;
        BreakTicks = options.BreakDuration.Ticks;
        BreakMultiplier = options.BreakDurationMultiplier;
        MaxBreakTicks = options.MaxBreakDuration.Ticks;
        Jitter = options.BreakDurationJitter;
        PermittedProbes = options.PermittedProbes;
        RequiredProbeSuccesses = Math.Max(1, (int)Math.Ceiling((options.ProbeSuccessRatio * options.PermittedProbes) - 1e-9));
        ProbeTimeoutTicks = (options.ProbeTimeout ?? options.BreakDuration).Ticks;
    }

    public CircuitBreakerOptions Options { get; }

    public double FailureRatio { get; }

    public int MinimumThroughput { get; }

    public int BucketCount { get; }

    public TimeSpan SamplingDuration { get; }

    /// <summary>0: slow-call tracking is off.</summary>
    public long SlowCallMilliseconds { get; }

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
