namespace Resilience;

/// <summary>The kinds of <see cref="ExitAction"/>.</summary>
public enum ExitActionKind
{
    /// <summary>The outcome passes outward unchanged.</summary>
    Continue = 0,

    /// <summary>The outcome is replaced by an exception.</summary>
    Fail = 1,

    /// <summary>The inner part runs again after a delay.</summary>
    Retry = 2,

    /// <summary>The outcome is replaced by the strategy's fallback.</summary>
    Fallback = 3,
}
