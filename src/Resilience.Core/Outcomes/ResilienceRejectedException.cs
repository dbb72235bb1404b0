namespace Resilience;

/// <summary>Raised when a strategy refused to run a call (an open circuit, no permit from a limiter).</summary>
public class ResilienceRejectedException : ResilienceException
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public ResilienceRejectedException()
        : this("A resilience strategy rejected the call.")
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    public ResilienceRejectedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public ResilienceRejectedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance from a rejection.</summary>
    /// <param name="message">The message.</param>
    /// <param name="rejection">The rejection this exception describes.</param>
    public ResilienceRejectedException(string message, in Rejection rejection)
        : base(message, rejection.PipelineName, rejection.Strategy?.Name, rejection.RetryAfter)
    {
        Reason = rejection.Reason;
    }

    /// <summary>Gets why the call was rejected.</summary>
    public RejectionReason Reason { get; }
}
