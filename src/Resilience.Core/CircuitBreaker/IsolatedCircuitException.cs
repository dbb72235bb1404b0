namespace Resilience;

/// <summary>Raised when a circuit breaker refused a call because it is held open by hand (isolated).</summary>
public class IsolatedCircuitException : BrokenCircuitException
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public IsolatedCircuitException()
        : this("The circuit is isolated: the call was not made.")
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    public IsolatedCircuitException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public IsolatedCircuitException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance from a rejection.</summary>
    /// <param name="message">The message.</param>
    /// <param name="rejection">The rejection.</param>
    public IsolatedCircuitException(string message, in Rejection rejection)
        : base(message, in rejection)
    {
    }
}
