namespace Resilience;

/// <summary>What the engine does after <see cref="ResilienceStrategy.Exit"/>.</summary>
public readonly struct ExitAction
{
    // Two words, so an action is returned in registers: _payload is null to continue, the exception to fail with, or
    // a marker for a retry (with _delayTicks) or a fallback.
    private static readonly object RetryMarker = new();
    private static readonly object FallbackMarker = new();

    // The longest wait a timer takes (Task.Delay refuses anything longer).
    private static readonly TimeSpan MaxDelay = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly long _delayTicks;
    private readonly object? _payload;

    private ExitAction(long delayTicks, object? payload)
    {
        _delayTicks = delayTicks;
        _payload = payload;
    }

    /// <summary>Gets the action that lets the outcome pass outward unchanged.</summary>
    public static ExitAction Continue => default;

    /// <summary>Gets the action that asks the engine for <see cref="ResilienceStrategy.ProvideFallbackAsync"/>.</summary>
    public static ExitAction Fallback => new(0, FallbackMarker);

    /// <summary>Gets the kind of action.</summary>
    public ExitActionKind Kind =>
        _payload is null ? ExitActionKind.Continue
        : ReferenceEquals(_payload, RetryMarker) ? ExitActionKind.Retry
        : ReferenceEquals(_payload, FallbackMarker) ? ExitActionKind.Fallback
        : ExitActionKind.Fail;

    /// <summary>Gets the delay before the next attempt, for <see cref="ExitActionKind.Retry"/>.</summary>
    public TimeSpan Delay => new(_delayTicks);

    /// <summary>Gets the exception that replaces the outcome, for <see cref="ExitActionKind.Fail"/>.</summary>
    public Exception? Exception => _payload as Exception;

    /// <summary>Gets whether the outcome passes unchanged (the engine's fast path).</summary>
    internal bool IsContinue => _payload is null;

    /// <summary>Runs the strategies inside this one and the callback again, after <paramref name="delay"/>.</summary>
    /// <param name="delay">The wait before the next attempt; zero for none; at most 2^32 - 2 milliseconds (about 49.7 days).</param>
    /// <returns>The action.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="delay"/> is negative or longer than a timer can wait.</exception>
    public static ExitAction Retry(TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);

        // Checked here, while the strategy exits, so the call fails there and the strategies outside it still exit:
        // the timer would refuse the delay later, where no strategy sees it.
        ArgumentOutOfRangeException.ThrowIfGreaterThan(delay, MaxDelay);
        return new(delay.Ticks, RetryMarker);
    }

    /// <summary>Replaces the outcome by <paramref name="exception"/> (for example a timeout).</summary>
    /// <param name="exception">The new failure.</param>
    /// <returns>The action.</returns>
    public static ExitAction Fail(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return new(0, exception);
    }
}
