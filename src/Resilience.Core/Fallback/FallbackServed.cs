namespace Resilience;

/// <summary>A fallback level served a call (told to <see cref="FallbackOptions{T}.OnServed"/>, for metrics and logs).</summary>
/// <remarks>
/// A value, so that telling a hook costs no allocation: a breaker held open with a fallback serving every call is the
/// path this runs on. A rejection it replaced stays a <see cref="Resilience.Rejection"/> until <see cref="Failure"/> is read.
/// </remarks>
public readonly struct FallbackServed
{
    private readonly Exception? _exception;

    /// <summary>Initializes a new instance for a failure that was an exception (or a result judged a failure, with none).</summary>
    /// <param name="pipelineName">The pipeline.</param>
    /// <param name="level">The index of the level that served.</param>
    /// <param name="levelName">The name of the level that served.</param>
    /// <param name="failure">The exception replaced, or <see langword="null"/> for a result judged a failure.</param>
    public FallbackServed(string? pipelineName, int level, string levelName, Exception? failure)
    {
        PipelineName = pipelineName;
        Level = level;
        LevelName = levelName;
        _exception = failure;
    }

    internal FallbackServed(string? pipelineName, int level, string levelName, Exception? failure, Rejection rejection)
        : this(pipelineName, level, levelName, failure)
    {
        Rejection = rejection;
    }

    /// <summary>Gets the pipeline.</summary>
    public string? PipelineName { get; }

    /// <summary>Gets the index of the level that served.</summary>
    public int Level { get; }

    /// <summary>Gets the name of the level that served.</summary>
    public string LevelName { get; }

    /// <summary>
    /// Gets the rejection replaced, when a strategy inside the fallback refused the call (an open circuit, no permit);
    /// its <see cref="Rejection.Strategy"/> is <see langword="null"/> otherwise. Reading it costs nothing.
    /// </summary>
    public Rejection Rejection { get; }

    /// <summary>
    /// Gets what was replaced: the exception; for a rejection, its exception (the one attached to a level that failed
    /// before, or else one created on each read: read <see cref="Rejection"/> to avoid that cost); <see langword="null"/>
    /// for a result judged a failure.
    /// </summary>
    public Exception? Failure => _exception ?? (Rejection.Strategy is not null ? Rejection.ToException() : null);
}
