namespace Resilience;

/// <summary>Options of a <see cref="FallbackStrategy{T}"/>.</summary>
/// <typeparam name="T">The result type.</typeparam>
public sealed class FallbackOptions<T>
{
    /// <summary>Gets the levels, tried in order.</summary>
    public IList<FallbackLevel<T>> Levels { get; } = [];

    /// <summary>Gets or sets whether rejections by the strategies inside the fallback (an open or isolated circuit, a limiter without permits, a custom strategy) are replaced. Default <see langword="true"/>.</summary>
    public bool HandleRejections { get; set; } = true;

    /// <summary>
    /// Gets or sets what is told when a level served a call. An exception it throws becomes the call's outcome, and a
    /// value the level served that is <see cref="IDisposable"/> is then disposed.
    /// </summary>
    public Action<FallbackServed>? OnServed { get; set; }

    /// <summary>Checks the options.</summary>
    /// <exception cref="ArgumentException">There is no level.</exception>
    public void Validate()
    {
        if (Levels.Count == 0)
        {
            throw new ArgumentException($"{nameof(FallbackOptions<T>)}.{nameof(Levels)} must hold at least one level; it is empty.", nameof(Levels));
        }
    }
}
