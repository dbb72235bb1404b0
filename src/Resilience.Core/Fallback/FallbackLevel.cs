namespace Resilience;

/// <summary>One level of a degradation chain: a named source of a replacement result.</summary>
/// <typeparam name="T">The result type.</typeparam>
public sealed class FallbackLevel<T>
{
    /// <summary>Initializes a new level.</summary>
    /// <param name="name">The level's name, reported in events and metrics.</param>
    /// <param name="action">Produces the replacement; may itself be a resilient call (another pipeline). Keep it idempotent and free of side effects.</param>
    /// <param name="tryNextOnFailure">Whether a failure of this level moves on to the next one. By default it does not: the failure surfaces, so a fallback never hides a bug.</param>
    public FallbackLevel(string name, Func<FallbackArguments<T>, ValueTask<T>> action, bool tryNextOnFailure = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(action);
        Name = name;
        Action = action;
        TryNextOnFailure = tryNextOnFailure;
    }

    /// <summary>Gets the level's name.</summary>
    public string Name { get; }

    /// <summary>Gets the action that produces the replacement.</summary>
    public Func<FallbackArguments<T>, ValueTask<T>> Action { get; }

    /// <summary>Gets whether a failure of this level moves on to the next one.</summary>
    public bool TryNextOnFailure { get; }

    /// <summary>
    /// Gets whether the action may read <see cref="FallbackArguments{T}.State"/>: a level that serves a fixed value does
    /// not, and spares the boxing of a caller's value-type state.
    /// </summary>
    internal bool ReadsState { get; init; } = true;

    /// <summary>Gets what records successful results for this level (a last-known-good cache), if anything.</summary>
    internal Action<T, object?>? Recorder { get; init; }

    /// <summary>Creates a level that serves a fixed value.</summary>
    /// <param name="name">The level's name.</param>
    /// <param name="value">The value.</param>
    /// <returns>The level.</returns>
    public static FallbackLevel<T> FromValue(string name, T value) => new(name, _ => new ValueTask<T>(value)) { ReadsState = false };

    /// <summary>Creates a level from a synchronous factory.</summary>
    /// <param name="name">The level's name.</param>
    /// <param name="factory">Produces the replacement.</param>
    /// <param name="tryNextOnFailure">Whether a failure of this level moves on to the next one.</param>
    /// <returns>The level.</returns>
    public static FallbackLevel<T> FromFactory(string name, Func<FallbackArguments<T>, T> factory, bool tryNextOnFailure = false)
    {
        ArgumentNullException.ThrowIfNull(factory);
        return new(name, arguments => new ValueTask<T>(factory(arguments)), tryNextOnFailure);
    }
}
