namespace Resilience;

/// <summary>Raised when a rate or concurrency limiter had no permit for a call.</summary>
public class RateLimiterRejectedException : ResilienceRejectedException
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public RateLimiterRejectedException()
        : this("The rate limiter had no permit: the call was not made.")
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    public RateLimiterRejectedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public RateLimiterRejectedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance from a rejection.</summary>
    /// <param name="message">The message.</param>
    /// <param name="rejection">The rejection.</param>
    public RateLimiterRejectedException(string message, in Rejection rejection)
        : base(message, in rejection)
    {
    }
}
