namespace Resilience.Examples;

/// <summary>A service's answer that it is overloaded, with how long it asks callers to wait.</summary>
public sealed class ServiceBusyException : Exception
{
    /// <summary>Initializes a new instance.</summary>
    public ServiceBusyException()
        : this("service", TimeSpan.Zero)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    public ServiceBusyException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ServiceBusyException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="service">The busy service.</param>
    /// <param name="retryAfter">How long it asks callers to wait.</param>
    public ServiceBusyException(string service, TimeSpan retryAfter)
        : base($"{service} is busy; retry after {retryAfter.TotalMilliseconds:0} ms.")
    {
        RetryAfter = retryAfter;
    }

    /// <summary>Gets how long the service asks callers to wait.</summary>
    public TimeSpan RetryAfter { get; }
}
