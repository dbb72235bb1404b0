namespace Resilience.Tests.Composite;

/// <summary>What one attempt of a scripted call does when it reaches the callback.</summary>
internal enum AttemptKind
{
    /// <summary>Returns the call's value at once.</summary>
    Ok,

    /// <summary>Throws an <see cref="InvalidOperationException"/> at once: a failure every strategy handles.</summary>
    Throws,

    /// <summary>Returns -1 at once: a result every strategy judges a failure.</summary>
    FailedResult,

    /// <summary>Throws an <see cref="ArgumentException"/> at once: a failure no strategy handles.</summary>
    Unhandled,

    /// <summary>Returns the call's value after 40 ms, within either timeout.</summary>
    Quick,

    /// <summary>
    /// Returns the call's value after 120 ms, ignoring its token: within the longer timeout, past the shorter (which is
    /// cooperative); slow for a breaker that tracks slow calls.
    /// </summary>
    Slow,

    /// <summary>Ignores its token and returns the call's value after 200 ms, past either timeout.</summary>
    Late,

    /// <summary>Waits for its token: ends when the timeout cancels it.</summary>
    Hang,

    /// <summary>Waits for its token: the caller cancels the call while it waits.</summary>
    Cancelled,

    /// <summary>Fails with an <see cref="InvalidOperationException"/> after 40 ms: a faulted task, completed later.</summary>
    FaultsLater,

    /// <summary>Throws a <see cref="NotSupportedException"/> at once, which makes a predicate that judges it throw.</summary>
    Poison,
}
