namespace Resilience;

/// <summary>
/// Raised when an attempt ran longer than its timeout. Unlike a caller's own cancellation (which stays an
/// <see cref="OperationCanceledException"/>), this is a failure of the dependency: outer strategies count it.
/// </summary>
public class TimeoutRejectedException : ResilienceException
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public TimeoutRejectedException()
        : this("The attempt timed out.")
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    public TimeoutRejectedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public TimeoutRejectedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance that names its source.</summary>
    /// <param name="timeout">The timeout that passed.</param>
    /// <param name="pipelineName">The pipeline.</param>
    /// <param name="strategyName">The strategy.</param>
    /// <param name="innerException">The cancellation the timeout caused.</param>
    public TimeoutRejectedException(TimeSpan timeout, string? pipelineName, string? strategyName, Exception? innerException)
        : base(
            strategyName is null ? $"The attempt did not complete within {timeout}." : $"Timeout '{strategyName}': the attempt did not complete within {timeout}.",
            pipelineName,
            strategyName,
            null,
            innerException)
    {
        Timeout = timeout;
    }

    /// <summary>Gets the timeout that passed.</summary>
    public TimeSpan Timeout { get; }
}
