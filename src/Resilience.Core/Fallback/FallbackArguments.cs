namespace Resilience;

/// <summary>What a fallback level sees: the failure it replaces, the caller's state and the token in force.</summary>
/// <typeparam name="T">The result type.</typeparam>
public readonly struct FallbackArguments<T>
{
    internal FallbackArguments(Outcome<T> failure, object? state, int level, CancellationToken cancellationToken)
    {
        Failure = failure;
        State = state;
        Level = level;
        CancellationToken = cancellationToken;
    }

    /// <summary>Gets the outcome being replaced: an exception, a rejection, a result judged a failure, or a failed earlier level.</summary>
    public Outcome<T> Failure { get; }

    /// <summary>Gets the state the caller passed to the pipeline (<see langword="null"/> for the overloads that take none).</summary>
    public object? State { get; }

    /// <summary>Gets the index of the level running.</summary>
    public int Level { get; }

    /// <summary>Gets the token in force outside the fallback.</summary>
    public CancellationToken CancellationToken { get; }
}
