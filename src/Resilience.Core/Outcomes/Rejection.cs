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
    private readonly long _retryAfterTicks;

    internal Rejection(ResilienceStrategy strategy, RejectionReason reason, TimeSpan? retryAfter, string? pipelineName)
    {
        Strategy = strategy;
        Reason = reason;
        _retryAfterTicks = retryAfter is { } value ? value.Ticks : -1;
        PipelineName = pipelineName;
    }

    /// <summary>Gets the strategy that rejected the call, or <see langword="null"/> when there was no rejection.</summary>
    public ResilienceStrategy? Strategy { get; }

    /// <summary>Gets why the call was rejected.</summary>
    public RejectionReason Reason { get; }

    /// <summary>Gets how long the caller should wait before trying again, when the strategy knows.</summary>
    public TimeSpan? RetryAfter => _retryAfterTicks < 0 ? null : new TimeSpan(_retryAfterTicks);

    /// <summary>Gets the name of the pipeline that ran the rejecting strategy.</summary>
    public string? PipelineName { get; }

    /// <summary>Creates the exception that describes this rejection (a new instance on every call).</summary>
    /// <returns>The rejection exception chosen by the rejecting strategy.</returns>
    /// <exception cref="InvalidOperationException">There is no rejection.</exception>
    public ResilienceRejectedException ToException() =>
        Strategy is { } strategy
            ? strategy.CreateRejectionException(in this)
            : throw new InvalidOperationException("There is no rejection to describe.");
}
