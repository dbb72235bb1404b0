namespace Resilience.Time;

/// <summary>
/// A lock-free, seedable source of uniform doubles (SplitMix64 over an atomic sequence): reproducible in tests, safe
/// when several threads draw at once, and allocation-free. Used for jitter.
/// </summary>
internal sealed class SeededRandom(int? seed)
{
    private readonly ulong _seed = (ulong)(seed ?? Random.Shared.Next());
    private long _sequence;

    /// <summary>Returns a value in [0, 1).</summary>
    public double NextUnit() => UnitAt((ulong)Interlocked.Increment(ref _sequence));

    /// <summary>Returns the value in [0, 1) at <paramref name="index"/> of this seed's sequence, drawing nothing: the same index gives the same value on every thread.</summary>
    public double UnitAt(ulong index)
    {
        var z = _seed + (index * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
