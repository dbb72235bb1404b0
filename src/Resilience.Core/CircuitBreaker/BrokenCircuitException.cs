namespace Resilience;

/// <summary>Raised when a circuit breaker refused a call because it is open (or half-open with every probe slot taken).</summary>
public class BrokenCircuitException : ResilienceRejectedException
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public BrokenCircuitException()
        : this("The circuit is open: the call was not made.")
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    public BrokenCircuitException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public BrokenCircuitException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance from a rejection.</summary>
    /// <param name="message">The message.</param>
    /// <param name="rejection">The rejection.</param>
    public BrokenCircuitException(string message, in Rejection rejection)
        : base(message, in rejection)
    {
    }
}
