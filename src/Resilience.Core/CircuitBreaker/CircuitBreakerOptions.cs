using Resilience.Options;

namespace Resilience;

/// <summary>
/// Options of a <see cref="CircuitBreaker"/>. A plain settable object, so it binds from configuration; a breaker
/// validates and copies it, and <see cref="CircuitBreaker.UpdateOptions"/> swaps it on a live breaker.
/// </summary>
public sealed class CircuitBreakerOptions : IClockOptions<CircuitBreakerOptions>
{
    /// <summary>Gets or sets the breaker's name, used in events and exceptions. Default: <c>CircuitBreaker</c>.</summary>
    public string? Name { get; set; }

    /// <summary>Gets or sets the failure ratio over the window at or above which the breaker opens. Range (0, 1]; default 0.5.</summary>
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>Gets or sets how many calls must have finished in the window before a ratio can open the breaker. Range [1, 2147483647]; default 20.</summary>
    public int MinimumThroughput { get; set; } = 20;

    /// <summary>Gets or sets the length of the sliding window. Range [1 ms × <see cref="BucketCount"/>, 1 day]; default 10 s.</summary>
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets how many buckets the window is split into: it slides by one bucket at a time. Range [1, 1000]; default 10.</summary>
    public int BucketCount { get; set; } = 10;

    /// <summary>
    /// Gets or sets the duration from which a call is slow, whatever its result; <see langword="null"/> (default) turns
    /// slow-call tracking off. Range [1 ms, 1 day].
    /// </summary>
    public TimeSpan? SlowCallDuration { get; set; }

    /// <summary>Gets or sets the slow-call ratio over the window at or above which the breaker opens (with slow-call tracking on). Range (0, 1]; default 1.</summary>
    public double SlowCallRatio { get; set; } = 1;

    /// <summary>Gets or sets how many failures in a row open the breaker, whatever the throughput; 0 (default) turns this trigger off. Range [0, 2147483647].</summary>
    public int ConsecutiveFailures { get; set; }

    /// <summary>Gets or sets how long the breaker stays open before it lets a probe through. Range [1 ms, 1 day]; default 5 s.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets the factor the break grows by on each consecutive re-opening (a failed probe round). Range [1, 100]; default 1 (constant).</summary>
    public double BreakDurationMultiplier { get; set; } = 1;

    /// <summary>Gets or sets the cap on a grown break. Range [<see cref="BreakDuration"/>, 1 day]; default 5 min.</summary>
    public TimeSpan MaxBreakDuration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets the random spread of each break, as a fraction of it (0.2: ±20 %). Range [0, 1); default 0.</summary>
    public double BreakDurationJitter { get; set; }

    /// <summary>Gets or sets how many probe calls the half-open breaker admits at once. Range [1, 10000]; default 1.</summary>
    public int PermittedProbes { get; set; } = 1;

    /// <summary>Gets or sets the share of the probes that must succeed for the breaker to close. Range (0, 1]; default 1 (all).</summary>
    public double ProbeSuccessRatio { get; set; } = 1;

    /// <summary>
    /// Gets or sets how long probes may hold every slot before the breaker gives up on them and starts a new round;
    /// <see langword="null"/> (default) means <see cref="BreakDuration"/>. Range [1 ms, 1 day].
    /// </summary>
    public TimeSpan? ProbeTimeout { get; set; }

    /// <summary>Gets or sets the seed of the break jitter; <see langword="null"/> (default) for a random seed.</summary>
    public int? JitterSeed { get; set; }

    /// <summary>Gets or sets the clock; <see langword="null"/> (default) for the pipeline's clock when added to a pipeline builder, otherwise <see cref="System.TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>Checks every option; throws naming each one out of its range (one per line when there are several).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public void Validate()
    {
        const string Type = nameof(CircuitBreakerOptions);
        var millisecond = TimeSpan.FromMilliseconds(1);
        var day = TimeSpan.FromDays(1);
        var failures = new List<ArgumentOutOfRangeException>();
        OptionCheck.Ratio(FailureRatio, $"{Type}.{nameof(FailureRatio)}", failures);
        OptionCheck.InRange(MinimumThroughput, 1, int.MaxValue, $"{Type}.{nameof(MinimumThroughput)}", failures);

        // A bound taken from another option holds only when that option is valid; otherwise its own range is used,
        // so one wrong value is not reported a second time against an option that is right.
        var buckets = OptionCheck.InRange(BucketCount, 1, 1000, $"{Type}.{nameof(BucketCount)}", failures) ? BucketCount : 1;
        OptionCheck.InRange(SamplingDuration, millisecond * buckets, day, $"{Type}.{nameof(SamplingDuration)}", failures);
        if (SlowCallDuration is { } slow)
        {
            OptionCheck.InRange(slow, millisecond, day, $"{Type}.{nameof(SlowCallDuration)}", failures);
        }

        OptionCheck.Ratio(SlowCallRatio, $"{Type}.{nameof(SlowCallRatio)}", failures);
        OptionCheck.InRange(ConsecutiveFailures, 0, int.MaxValue, $"{Type}.{nameof(ConsecutiveFailures)}", failures);
        var breakDuration = OptionCheck.InRange(BreakDuration, millisecond, day, $"{Type}.{nameof(BreakDuration)}", failures) ? BreakDuration : millisecond;
        OptionCheck.Between(BreakDurationMultiplier, 1, 100, $"{Type}.{nameof(BreakDurationMultiplier)}", failures);
        OptionCheck.InRange(MaxBreakDuration, breakDuration, day, $"{Type}.{nameof(MaxBreakDuration)}", failures);
        OptionCheck.InRange(BreakDurationJitter, 0, 1, $"{Type}.{nameof(BreakDurationJitter)}", failures);
        OptionCheck.InRange(PermittedProbes, 1, 10_000, $"{Type}.{nameof(PermittedProbes)}", failures);
        OptionCheck.Ratio(ProbeSuccessRatio, $"{Type}.{nameof(ProbeSuccessRatio)}", failures);
        if (ProbeTimeout is { } probeTimeout)
        {
            OptionCheck.InRange(probeTimeout, millisecond, day, $"{Type}.{nameof(ProbeTimeout)}", failures);
        }

        OptionCheck.ThrowIfAny(failures);
    }

    /// <summary>Creates a copy, so a caller's later changes never reach a live breaker unvalidated.</summary>
    /// <returns>The copy.</returns>
    public CircuitBreakerOptions Clone() => (CircuitBreakerOptions)MemberwiseClone();
}
