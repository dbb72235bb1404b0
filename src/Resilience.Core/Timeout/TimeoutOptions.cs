using Resilience.Options;

namespace Resilience;

/// <summary>Options of a <see cref="TimeoutStrategy"/>.</summary>
public sealed class TimeoutOptions : IClockOptions<TimeoutOptions>
{
    /// <summary>
    /// Gets or sets the strategy's name in telemetry, health reports and <see cref="TimeoutRejectedException"/>;
    /// <see langword="null"/> (default) for the type name. A timeout configured in a pipeline's section is named after it.
    /// The name is fixed when the strategy is created: <see cref="TimeoutStrategy.UpdateOptions"/> ignores it.
    /// </summary>
    public string? Name { get; set; }

    /// <summary>Gets or sets how long one attempt may run. Range [1 ms, 1 day]; default 30 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Gets or sets the clock; <see langword="null"/> (default) for the pipeline builder's clock when added with
    /// <c>AddTimeout</c>, or <see cref="System.TimeProvider.System"/> for a strategy created directly.
    /// </summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>
    /// Gets or sets what is told when an attempt ends in this strategy's <see cref="TimeoutRejectedException"/>;
    /// <see langword="null"/> (default) for nothing. Not called for the caller's own cancellation, nor for an outer
    /// timeout's. An exception it throws becomes the call's outcome instead of the timeout. Code only: configuration
    /// cannot set it.
    /// </summary>
    public Action<TimeoutExpired>? OnTimeout { get; set; }

    /// <summary>Checks <see cref="Timeout"/>, the one option with a range; throws naming it, its range and the value.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="Timeout"/> is out of its range.</exception>
    public void Validate() =>
        OptionCheck.InRange(Timeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromDays(1), $"{nameof(TimeoutOptions)}.{nameof(Timeout)}");

    /// <summary>Creates a copy (the clock and the delegate are shared, not copied).</summary>
    /// <returns>The copy.</returns>
    public TimeoutOptions Clone() => (TimeoutOptions)MemberwiseClone();
}
