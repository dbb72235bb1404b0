using System.Threading.RateLimiting;
using Resilience.Options;

namespace Resilience;

/// <summary>Options of an <see cref="InFlightLimiter"/>.</summary>
public sealed class InFlightLimiterOptions : IClockOptions<InFlightLimiterOptions>
{
    /// <summary>Gets or sets how many permits may be held at once. Range [1, int.MaxValue]; default 100.</summary>
    public int PermitLimit { get; set; } = 100;

    /// <summary>Gets or sets how many permits may wait in the queue; 0 (default) means no queue: fail at once. Range [0, int.MaxValue].</summary>
    public int QueueLimit { get; set; }

    /// <summary>Gets or sets which waiter is served first; with <see cref="QueueProcessingOrder.NewestFirst"/> a full queue drops its oldest waiter for a newcomer. Default <see cref="QueueProcessingOrder.OldestFirst"/>.</summary>
    public QueueProcessingOrder QueueProcessingOrder { get; set; } = QueueProcessingOrder.OldestFirst;

    /// <summary>Gets or sets how long a waiter may wait before it gets a failed lease; <see langword="null"/> (default) for no limit. Range &gt; 0.</summary>
    public TimeSpan? QueueTimeout { get; set; }

    /// <summary>Gets or sets the clock of the queue timeout; <see langword="null"/> (default) for the pipeline's clock when added to a pipeline builder, otherwise <see cref="System.TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>Checks every option; throws naming each one out of its range (one per line when there are several).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public void Validate()
    {
        const string Type = nameof(InFlightLimiterOptions);
        var failures = new List<ArgumentOutOfRangeException>();
        OptionCheck.InRange(PermitLimit, 1, int.MaxValue, $"{Type}.{nameof(PermitLimit)}", failures);
        OptionCheck.InRange(QueueLimit, 0, int.MaxValue, $"{Type}.{nameof(QueueLimit)}", failures);
        OptionCheck.InRange((int)QueueProcessingOrder, 0, 1, $"{Type}.{nameof(QueueProcessingOrder)}", failures);
        if (QueueTimeout is { } timeout)
        {
            OptionCheck.Positive(timeout, $"{Type}.{nameof(QueueTimeout)}", failures);
        }

        OptionCheck.ThrowIfAny(failures);
    }

    /// <summary>Creates a copy.</summary>
    /// <returns>The copy.</returns>
    public InFlightLimiterOptions Clone() => (InFlightLimiterOptions)MemberwiseClone();
}
