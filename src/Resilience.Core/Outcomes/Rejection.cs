namespace Resilience;

/// <summary>
/// A strategy's refusal to run a call, described without allocating an exception.
/// </summary>
/// <remarks>
/// Rejections travel through the pipeline as values so that a rejected call on a hot loop costs no
/// exception. <see cref="ToException"/> materialises one when a caller needs it.
/// </remarks>
public readonly struct Rejection
{
    // Two words, so outcomes that carry a rejection stay small: the reason in the low 3 bits of _packed and the
    // retry-after ticks plus one above them (zero: unknown).
    private readonly RejectionSource? _source;
    private readonly long _packed;

    internal Rejection(RejectionSource source, long packed)
    {
        _source = source;
        _packed = packed;
    }

    /// <summary>Gets the strategy that rejected the call, or <see langword="null"/> when there was no rejection.</summary>
    public ResilienceStrategy? Strategy => _source?.Strategy;

    /// <summary>Gets why the call was rejected.</summary>
    public RejectionReason Reason => (RejectionReason)(_packed & 7);

    /// <summary>Gets how long the caller should wait before trying again, when the strategy knows.</summary>
    public TimeSpan? RetryAfter => (_packed >> 3) is var ticks && ticks > 0 ? new TimeSpan(ticks - 1) : null;

    /// <summary>Gets the name of the pipeline that ran the rejecting strategy.</summary>
    public string? PipelineName => _source?.PipelineName;

    internal RejectionSource? Source => _source;

    internal long Packed => _packed;

    // The retry-after takes the top 60 bits (3,600 years of ticks): a longer one is kept as the longest that fits.
    private const long MaxPackedTicks = (long.MaxValue >> 3) - 1;

    internal static long Pack(RejectionReason reason, TimeSpan? retryAfter) =>
        (long)reason | ((retryAfter is { } value ? Math.Clamp(value.Ticks, 0, MaxPackedTicks) + 1 : 0) << 3);

    /// <summary>Packs a retry-after known to be in [0, <see cref="MaxPackedTicks"/>] ticks, with no range check.</summary>
    internal static long PackInRange(RejectionReason reason, long retryAfterTicks) => (long)reason | ((retryAfterTicks + 1) << 3);

    /// <summary>Creates the exception that describes this rejection (a new instance on every call).</summary>
    /// <returns>The rejection exception chosen by the rejecting strategy.</returns>
    /// <exception cref="InvalidOperationException">There is no rejection.</exception>
    public ResilienceRejectedException ToException() =>
        Strategy is { } strategy
            ? strategy.CreateRejectionException(in this)
            : throw new InvalidOperationException("There is no rejection to describe.");
}
