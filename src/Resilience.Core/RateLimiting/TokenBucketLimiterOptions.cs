using System.Globalization;
using Resilience.Options;

namespace Resilience;

/// <summary>Options of a <see cref="TokenBucketLimiter"/>.</summary>
public sealed class TokenBucketLimiterOptions : IClockOptions<TokenBucketLimiterOptions>
{
    // Ten years of 365 days.
    internal const long MaxRefillSeconds = 315_360_000;

    /// <summary>Gets or sets the refill rate in permits per second; fractions are allowed (0.5: one permit every two seconds). Range [0.000001, 1e9]; default 100.</summary>
    public double PermitsPerSecond { get; set; } = 100;

    /// <summary>Gets or sets the bucket's capacity: how many permits can be taken at once after an idle period. Range [1, 1e9], and at most <see cref="PermitsPerSecond"/> × 315,360,000 (an empty bucket refills within ten years); default 100.</summary>
    public int Burst { get; set; } = 100;

    /// <summary>Gets or sets how long <c>AcquireAsync</c> (and a pipeline) may wait for permits; zero (default) fails at once. Range [0, 1 day].</summary>
    public TimeSpan MaxWait { get; set; }

    /// <summary>Gets or sets the clock; <see langword="null"/> (default) for the pipeline's clock when added to a pipeline builder, otherwise <see cref="System.TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>Checks every option; throws naming each one out of its range (one per line when there are several).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public void Validate()
    {
        const string Type = nameof(TokenBucketLimiterOptions);
        var failures = new List<ArgumentOutOfRangeException>();
        var rate = OptionCheck.Between(PermitsPerSecond, 0.000001, 1e9, $"{Type}.{nameof(PermitsPerSecond)}", failures);
        var burst = OptionCheck.InRange(Burst, 1, 1_000_000_000, $"{Type}.{nameof(Burst)}", failures);
        OptionCheck.InRange(MaxWait, TimeSpan.Zero, TimeSpan.FromDays(1), $"{Type}.{nameof(MaxWait)}", failures);

        // The bucket keeps time in 64 bits of 1/256 of a tick: a full bucket must fit them with room for years of uptime.
        // Checked only when both are valid, so a wrong rate or burst is reported once.
        if (rate && burst && Burst / PermitsPerSecond > MaxRefillSeconds)
        {
            failures.Add(OptionCheck.Fail(
                $"{Type}.{nameof(Burst)}",
                $"must be at most {nameof(PermitsPerSecond)} × {MaxRefillSeconds} (an empty bucket refills within ten years)",
                Burst.ToString(CultureInfo.InvariantCulture)));
        }

        OptionCheck.ThrowIfAny(failures);
    }

    /// <summary>Creates a copy.</summary>
    /// <returns>The copy.</returns>
    public TokenBucketLimiterOptions Clone() => (TokenBucketLimiterOptions)MemberwiseClone();
}
