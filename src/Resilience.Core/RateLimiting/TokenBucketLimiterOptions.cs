using Resilience.Options;

namespace Resilience;

/// <summary>Options of a <see cref="TokenBucketLimiter"/>.</summary>
public sealed class TokenBucketLimiterOptions
{
    /// <summary>Gets or sets the refill rate in permits per second; fractions are allowed (0.5: one permit every two seconds). Range [0.000001, 1e9]; default 100.</summary>
    public double PermitsPerSecond { get; set; } = 100;

    /// <summary>Gets or sets the bucket's capacity: how many permits can be taken at once after an idle period. Range [1, 1e9]; default 100.</summary>
    public int Burst { get; set; } = 100;

    /// <summary>Gets or sets how long <c>AcquireAsync</c> (and a pipeline) may wait for permits; zero (default) fails at once. Range [0, 1 day].</summary>
    public TimeSpan MaxWait { get; set; }

    /// <summary>Gets or sets the clock; <see langword="null"/> (default) for <see cref="System.TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>Checks every option; throws naming each one out of its range (one per line when there are several).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public void Validate()
    {
        const string Type = nameof(TokenBucketLimiterOptions);
        var failures = new List<ArgumentOutOfRangeException>();
        OptionCheck.Between(PermitsPerSecond, 0.000001, 1e9, $"{Type}.{nameof(PermitsPerSecond)}", failures);
        OptionCheck.InRange(Burst, 1, 1_000_000_000, $"{Type}.{nameof(Burst)}", failures);
        OptionCheck.InRange(MaxWait, TimeSpan.Zero, TimeSpan.FromDays(1), $"{Type}.{nameof(MaxWait)}", failures);
        OptionCheck.ThrowIfAny(failures);
    }

    /// <summary>Creates a copy.</summary>
    /// <returns>The copy.</returns>
    public TokenBucketLimiterOptions Clone() => (TokenBucketLimiterOptions)MemberwiseClone();
}
