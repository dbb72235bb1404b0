namespace Resilience;

/// <summary>What the engine does after <see cref="ResilienceStrategy.Exit"/>.</summary>
public readonly struct ExitAction
{
    private ExitAction(ExitActionKind kind, TimeSpan delay, Exception? exception)
    {
        Kind = kind;
        Delay = delay;
        Exception = exception;
    }

    /// <summary>Gets the action that lets the outcome pass outward unchanged.</summary>
    public static ExitAction Continue => default;

    /// <summary>Gets the action that asks the engine for <see cref="ResilienceStrategy.ProvideFallbackAsync"/>.</summary>
    public static ExitAction Fallback => new(ExitActionKind.Fallback, TimeSpan.Zero, null);

    /// <summary>Gets the kind of action.</summary>
    public ExitActionKind Kind { get; }

    /// <summary>Gets the delay before the next attempt, for <see cref="ExitActionKind.Retry"/>.</summary>
    public TimeSpan Delay { get; }

    /// <summary>Gets the exception that replaces the outcome, for <see cref="ExitActionKind.Fail"/>.</summary>
    public Exception? Exception { get; }

    /// <summary>Runs the strategies inside this one and the callback again, after <paramref name="delay"/>.</summary>
    /// <param name="delay">The wait before the next attempt; zero for none.</param>
    /// <returns>The action.</returns>
    public static ExitAction Retry(TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        return new(ExitActionKind.Retry, delay, null);
    }

    /// <summary>Replaces the outcome by <paramref name="exception"/> (for example a timeout).</summary>
    /// <param name="exception">The new failure.</param>
    /// <returns>The action.</returns>
    public static ExitAction Fail(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return new(ExitActionKind.Fail, TimeSpan.Zero, exception);
    }
}
