using System.Collections.Concurrent;
using Resilience.Time;

namespace Resilience;

/// <summary>
/// Remembers the most recent successful result per key, for a fallback level that serves it while it is younger than
/// <see cref="MaxAge"/>. Memory is bounded: past <see cref="Capacity"/> keys, the oldest entries are evicted.
/// </summary>
/// <typeparam name="TKey">The key: what makes two calls ask for the same thing.</typeparam>
/// <typeparam name="T">The result type.</typeparam>
public sealed class LastKnownGood<TKey, T>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Entry> _entries = new();
    private readonly MonotonicClock _clock;
    private readonly Lock _evicting = new();
    private int _count;

    /// <summary>Initializes a new cache.</summary>
    /// <param name="maxAge">How long a result may be served after it was recorded. Range &gt; 0.</param>
    /// <param name="capacity">The cap on keys. Range [1, 10,000,000]; default 10,000.</param>
    /// <param name="timeProvider">
    /// The clock; <see langword="null"/> for the system clock, read as the coarse tick count (a few nanoseconds a
    /// success instead of a precise timestamp's twenty): a result's age is then known within the system timer's
    /// resolution (1 ms to 16 ms).
    /// </param>
    public LastKnownGood(TimeSpan maxAge, int capacity = 10_000, TimeProvider? timeProvider = null)
    {
        Options.OptionCheck.Positive(maxAge, $"{nameof(LastKnownGood<TKey, T>)}.{nameof(MaxAge)}");
        Options.OptionCheck.InRange(capacity, 1, 10_000_000, $"{nameof(LastKnownGood<TKey, T>)}.{nameof(Capacity)}");
        MaxAge = maxAge;
        Capacity = capacity;
        _clock = MonotonicClock.From(timeProvider);
    }

    /// <summary>Gets how long a result may be served.</summary>
    public TimeSpan MaxAge { get; }

    /// <summary>Gets the cap on keys.</summary>
    public int Capacity { get; }

    /// <summary>Gets how many keys are held.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Records a successful result.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The result.</param>
    /// <remarks>
    /// Runs on every successful call of a pipeline with this level: a key already held is updated in place, with no
    /// allocation and no lock (the dictionary's writes lock a bucket, so only a new key goes through them).
    /// </remarks>
    public void Record(TKey key, T value)
    {
        var recorded = _clock.NowTicks;
        while (true)
        {
            if (_entries.TryGetValue(key, out var entry))
            {
                entry.Write(value, recorded);
                return;
            }

            // Counted only by the thread whose add took effect: another thread adding the same new key updates instead.
            if (_entries.TryAdd(key, new Entry(value, recorded)))
            {
                break;
            }
        }

        if (Interlocked.Increment(ref _count) > Capacity)
        {
            EvictOldest(key);
        }
    }

    /// <summary>Gets the result recorded for <paramref name="key"/> if it is younger than <see cref="MaxAge"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The result.</param>
    /// <returns>Whether a fresh enough result was found.</returns>
    public bool TryGet(TKey key, out T value)
    {
        if (_entries.TryGetValue(key, out var entry))
        {
            var recorded = entry.Read(out value);
            if (_clock.NowTicks - recorded <= MaxAge.Ticks)
            {
                return true;
            }
        }

        value = default!;
        return false;
    }

    /// <summary>
    /// Creates a fallback level that serves the last known good result of the call's key, and records every successful
    /// result of the pipeline it is added to. Without a fresh result the level fails (and the chain moves on).
    /// A call whose key is <see langword="null"/> (one run without state, for example) is neither recorded nor served.
    /// A result that is <see cref="IDisposable"/> is not recorded: the caller it was returned to owns it and disposes it,
    /// and serving it to another call would hand out a disposed object (and have it disposed twice).
    /// </summary>
    /// <param name="keySelector">Gives the call's key from the caller's state (pass a reference type as state to avoid boxing).</param>
    /// <param name="name">The level's name.</param>
    /// <returns>The level.</returns>
    public FallbackLevel<T> AsLevel(Func<object?, TKey> keySelector, string name = "last-known-good")
    {
        ArgumentNullException.ThrowIfNull(keySelector);
        return new FallbackLevel<T>(
            name,
            arguments => keySelector(arguments.State) is { } key && TryGet(key, out var value)
                ? new ValueTask<T>(value)
                : ValueTask.FromException<T>(new KeyNotFoundException($"No result younger than {MaxAge} is known for this key.")),
            tryNextOnFailure: true)
        {
            // A call without a key has nothing to record: the dictionary's refusal of a null key must not fail a call
            // that succeeded. A disposable result belongs to its caller, who may dispose it before it is served again.
            Recorder = (value, state) =>
            {
                if (value is not IDisposable && keySelector(state) is { } key)
                {
                    Record(key, value);
                }
            },
        };
    }

    /// <summary>Evicts the oldest entries, never <paramref name="recorded"/>: the result just recorded is the one to keep.</summary>
    private void EvictOldest(TKey recorded)
    {
        if (!_evicting.TryEnter())
        {
            return;
        }

        try
        {
            // Evict a tenth of the capacity at once, oldest first, so eviction runs rarely.
            var entries = _entries.ToArray();
            var excess = entries.Length - Capacity + Math.Max(1, Capacity / 10);
            var comparer = _entries.Comparer;
            foreach (var (key, entry) in entries.Where(e => !comparer.Equals(e.Key, recorded)).OrderBy(e => e.Value.Recorded).Take(excess))
            {
                if (_entries.TryRemove(new KeyValuePair<TKey, Entry>(key, entry)))
                {
                    Interlocked.Decrement(ref _count);
                }
            }
        }
        finally
        {
            _evicting.Exit();
        }
    }

    /// <summary>
    /// A key's recorded result, rewritten in place as results arrive. A version (odd while a write is under way) lets a
    /// reader see a value and its timestamp from the same write; compared by reference (TryRemove), so the value's own
    /// equality is never called.
    /// </summary>
    private sealed class Entry(T value, long recorded)
    {
        private int _version;
        private T _value = value;
        private long _recorded = recorded;

        /// <summary>Gets when the result was recorded (for eviction, which orders entries by age).</summary>
        public long Recorded => Read(out _);

        /// <summary>
        /// Stores a result unless the one held was recorded later. A writer that meets another write under way spins
        /// briefly for it; if that write stalls (its thread preempted), it gives up rather than wait: one stalled thread
        /// must not hold up every successful call of the key, and the next success records again.
        /// </summary>
        public void Write(T value, long recorded)
        {
            var spinner = default(SpinWait);
            int version;
            while (((version = Volatile.Read(ref _version)) & 1) != 0
                || Interlocked.CompareExchange(ref _version, version + 1, version) != version)
            {
                if (spinner.NextSpinWillYield)
                {
                    return;
                }

                spinner.SpinOnce();
            }

            // A thread that read the clock earlier and got here later holds the older result: the newer one stays.
            if (recorded >= _recorded)
            {
                _value = value;
                _recorded = recorded;
            }

            Volatile.Write(ref _version, version + 2);
        }

        /// <summary>Reads the result and when it was recorded, both from one write (readers are fallbacks, off the hot path).</summary>
        public long Read(out T value)
        {
            var spinner = default(SpinWait);
            while (true)
            {
                var version = Volatile.Read(ref _version);
                if ((version & 1) == 0)
                {
                    value = _value;
                    var recorded = _recorded;

                    // The reads above must complete before the version is checked again (an acquire alone would let them move past it).
                    Interlocked.MemoryBarrier();
                    if (Volatile.Read(ref _version) == version)
                    {
                        return recorded;
                    }
                }

                spinner.SpinOnce();
            }
        }
    }
}
