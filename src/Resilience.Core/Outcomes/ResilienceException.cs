namespace Resilience;

/// <summary>The base of every exception the library raises.</summary>
public class ResilienceException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public ResilienceException()
        : this("A resilience strategy failed the call.")
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    public ResilienceException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public ResilienceException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance that names its source.</summary>
    /// <param name="message">The message.</param>
    /// <param name="pipelineName">The pipeline that ran the strategy.</param>
    /// <param name="strategyName">The strategy that raised it.</param>
    /// <param name="retryAfter">How long to wait before trying again, when known.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public ResilienceException(string message, string? pipelineName, string? strategyName, TimeSpan? retryAfter, Exception? innerException = null)
        : base(message, innerException)
    {
        PipelineName = pipelineName;
        StrategyName = strategyName;
        RetryAfter = retryAfter;
    }

    /// <summary>Gets the name of the pipeline that ran the strategy, if it has one.</summary>
    public string? PipelineName { get; }

    /// <summary>Gets the name of the strategy that raised the exception.</summary>
    public string? StrategyName { get; }

    /// <summary>Gets how long the caller should wait before trying again, when known.</summary>
    public TimeSpan? RetryAfter { get; }
}
