using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using Resilience.Options;

namespace Resilience;

/// <summary>
/// A partitioned limiter (one limiter per tenant, host, user…) whose memory stays bounded however many distinct keys
/// arrive: partitions idle for <see cref="IdleTimeout"/> are evicted, and past <see cref="MaxPartitions"/> the least
/// recently used ones go first. An evicted partition starts afresh if its key comes back.
/// </summary>
/// <typeparam name="TKey">The partition key.</typeparam>
/// <remarks>
/// Looking up and creating partitions is lock-free (a concurrent dictionary). Eviction takes a lock so that only one
/// thread trims at a time; it runs when the cap is passed (then it trims a quarter of the partitions, so its cost is
/// spread over many new keys) and every quarter of the cap of new partitions (at least 1,024) for idle ones. Past the
/// cap, idle partitions (<see cref="RateLimiter.IdleDuration"/> set) go before busy ones, whose limits are in use.
/// </remarks>
public sealed class BoundedPartitionedLimiter<TKey> : PartitionedRateLimiter<TKey>, IPartitionCounts, IQueueReportingPartitionedLimiter<TKey>
    where TKey : notnull
{
    // Added to a busy partition's last use (Environment.TickCount64, far below it) to order it after every idle one.
    private const long BusyRank = 1L << 61;

    private readonly ConcurrentDictionary<TKey, Partition> _partitions;
    private readonly Func<TKey, RateLimiter> _factory;
    private readonly Lock _trimming = new();
    private long _created;
    private long _evicted;
    private int _count;
    private int _disposed;

    /// <summary>Initializes a new instance.</summary>
    /// <param name="factory">
    /// Creates the limiter of a new partition. It runs in the call that first needs the key, with
    /// <see cref="ExecutionContext"/> flow suppressed: it reads that call's ambient values, but a timer it arms does not
    /// capture them.
    /// </param>
    /// <param name="maxPartitions">The cap on live partitions. Range [1, 100,000,000]; default 10,000.</param>
    /// <param name="idleTimeout">How long a partition may sit idle before it is evicted; <see langword="null"/> for 5 minutes. Range &gt; 0.</param>
    /// <param name="comparer">The key comparer.</param>
    public BoundedPartitionedLimiter(Func<TKey, RateLimiter> factory, int maxPartitions = 10_000, TimeSpan? idleTimeout = null, IEqualityComparer<TKey>? comparer = null)
    {
        ArgumentNullException.ThrowIfNull(factory);
        OptionCheck.InRange(maxPartitions, 1, 100_000_000, $"{nameof(BoundedPartitionedLimiter<TKey>)}.{nameof(MaxPartitions)}");
        IdleTimeout = idleTimeout ?? TimeSpan.FromMinutes(5);
        OptionCheck.Positive(IdleTimeout, $"{nameof(BoundedPartitionedLimiter<TKey>)}.{nameof(IdleTimeout)}");
        _factory = factory;
        MaxPartitions = maxPartitions;
        _partitions = new ConcurrentDictionary<TKey, Partition>(comparer);
    }

    /// <summary>Gets the cap on live partitions.</summary>
    public int MaxPartitions { get; }

    /// <summary>Gets how long a partition may sit idle before it is evicted.</summary>
    public TimeSpan IdleTimeout { get; }

    /// <summary>Gets how many partitions are live.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Gets how many partitions were created since this limiter was (a key that comes back after its partition was evicted counts again).</summary>
    public long PartitionsCreated => Interlocked.Read(ref _created);

    /// <summary>Gets how many partitions were evicted since this limiter was created: idle past <see cref="IdleTimeout"/>, or least recently used past <see cref="MaxPartitions"/>.</summary>
    public long PartitionsEvicted => Interlocked.Read(ref _evicted);

    /// <inheritdoc />
    bool IPartitionCounts.IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <inheritdoc />
    public override RateLimiterStatistics? GetStatistics(TKey resource) => Get(resource).GetStatistics();

    /// <inheritdoc />
    protected override RateLimitLease AttemptAcquireCore(TKey resource, int permitCount)
    {
        while (true)
        {
            var limiter = Get(resource);
            try
            {
                return limiter.AttemptAcquire(permitCount);
            }
            catch (ObjectDisposedException) when (Volatile.Read(ref _disposed) == 0 && Evicted(resource, limiter))
            {
                // Evicted between lookup and use by another thread's trim: the key gets a fresh partition.
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// The partition's own answer, as <see cref="PartitionedRateLimiter.Create{TResource, TPartitionKey}"/>'s limiter
    /// gives it: what the partition's limiter throws at the call (a permit count out of its range) is thrown at this call,
    /// and a waiter completes when the partition serves it, with no state machine or thread-pool hop of ours between.
    /// </remarks>
    protected override ValueTask<RateLimitLease> AcquireAsyncCore(TKey resource, int permitCount, CancellationToken cancellationToken) =>
        Acquire(resource, permitCount, cancellationToken, out _);

    /// <summary>
    /// Acquires as <see cref="PartitionedRateLimiter{TResource}.AcquireAsync"/> does, and tells whether the partition
    /// queued the request (the caller waits, however soon it is served): exactly for a token bucket's or a concurrency
    /// limiter's partition, which say so; for another limiter, when its acquisition is not complete as it returns. A
    /// pipeline counts a wait by it.
    /// </summary>
    internal ValueTask<RateLimitLease> Acquire(TKey resource, int permitCount, CancellationToken cancellationToken, out bool queued)
    {
        while (true)
        {
            var limiter = Get(resource);
            ValueTask<RateLimitLease> acquisition;
            try
            {
                // The base class checked the permit count, as RateLimiter.AcquireAsync would for the partition.
                acquisition = limiter is IQueueReportingLimiter ours
                    ? ours.Acquire(permitCount, cancellationToken, out queued)
                    : RateLimiterStrategy.QueuedUnlessComplete(limiter.AcquireAsync(permitCount, cancellationToken), out queued);
            }
            catch (ObjectDisposedException) when (Volatile.Read(ref _disposed) == 0 && Evicted(resource, limiter))
            {
                // Evicted between lookup and use: the key gets a fresh partition.
                continue;
            }

            if (!acquisition.IsFaulted)
            {
                return acquisition;
            }

            // A limiter written as an async method reports its disposal in the task it returns, at once.
            var faulted = acquisition.AsTask();
            if (faulted.Exception?.InnerException is ObjectDisposedException && Volatile.Read(ref _disposed) == 0 && Evicted(resource, limiter))
            {
                continue;
            }

            queued = false;
            return new ValueTask<RateLimitLease>(faulted);
        }
    }

    /// <inheritdoc />
    ValueTask<RateLimitLease> IQueueReportingPartitionedLimiter<TKey>.Acquire(TKey resource, int permitCount, CancellationToken cancellationToken, out bool queued) =>
        Acquire(resource, permitCount, cancellationToken, out queued);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            foreach (var partition in _partitions.Values)
            {
                partition.Limiter.Dispose();
            }

            _partitions.Clear();
        }
    }

    private RateLimiter Get(TKey key)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var now = Environment.TickCount64;
        if (_partitions.TryGetValue(key, out var partition))
        {
            partition.LastUsed = now;
            return partition.Limiter;
        }

        var created = new Partition(Create(key)) { LastUsed = now };
        partition = _partitions.GetOrAdd(key, created);
        if (!ReferenceEquals(partition, created))
        {
            created.Limiter.Dispose();
            partition.LastUsed = now;
            return partition.Limiter;
        }

        // A disposal that ran while the factory did, or before the partition was added, did not see it: it would grant
        // calls after disposal and keep its waiters queued for good. The fence orders the add before the read, as
        // disposal's exchange orders its flag before it enumerates: one of the two disposes the partition.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _disposed) != 0)
        {
            _partitions.TryRemove(new KeyValuePair<TKey, Partition>(key, partition));
            partition.Limiter.Dispose();
            ObjectDisposedException.ThrowIf(true, this);
        }

        // ConcurrentDictionary.Count takes every lock of the dictionary: keep our own count.
        var live = Interlocked.Increment(ref _count);
        var ordinal = Interlocked.Increment(ref _created);
        if (live > MaxPartitions || ordinal % Math.Max(1024, MaxPartitions / 4) == 0)
        {
            Trim(partition);
        }

        return partition.Limiter;
    }

    /// <summary>
    /// Makes a key's limiter without the flow of the call that needs it: the limiter serves the key's later calls, and one
    /// that arms a timer as it is made (the BCL's replenishing limiters do by default) would otherwise keep that call's
    /// ambient values (its activity, say) alive for the partition's life, and run its timer under them.
    /// </summary>
    private RateLimiter Create(TKey key)
    {
        if (ExecutionContext.IsFlowSuppressed())
        {
            return _factory(key);
        }

        using (ExecutionContext.SuppressFlow())
        {
            return _factory(key);
        }
    }

    /// <summary>
    /// Whether the key's partition no longer holds <paramref name="limiter"/>: it was evicted (eviction removes before it
    /// disposes). A limiter its owner disposed is still the key's partition: retrying would meet it again, for ever.
    /// </summary>
    private bool Evicted(TKey key, RateLimiter limiter) =>
        !_partitions.TryGetValue(key, out var partition) || !ReferenceEquals(partition.Limiter, limiter);

    private void Trim(Partition newest)
    {
        if (!_trimming.TryEnter())
        {
            return;
        }

        try
        {
            var entries = _partitions.ToArray();
            var removed = 0;

            // Eviction order for the cap: idle partitions before busy ones (a busy limiter's permits are in use or its
            // bucket is refilling: evicting it would give its key a fresh limit while its calls still run), each least
            // recently used first. Removed and the newest partitions are left out (long.MaxValue).
            var order = new long[entries.Length];
            for (var i = 0; i < entries.Length; i++)
            {
                var (key, partition) = entries[i];
                var idle = partition.Limiter.IdleDuration;
                if (partition == newest)
                {
                    order[i] = long.MaxValue;
                }
                else if (idle >= IdleTimeout && Remove(key, partition))
                {
                    order[i] = long.MaxValue;
                    removed++;
                }
                else
                {
                    order[i] = (idle is null ? BusyRank : 0) + Math.Max(0, partition.LastUsed);
                }
            }

            var excess = entries.Length - removed - (MaxPartitions - (MaxPartitions / 4));
            if (Count <= MaxPartitions || excess <= 0)
            {
                return;
            }

            Array.Sort(order, entries);
            for (var i = 0; i < entries.Length && excess > 0 && order[i] != long.MaxValue; i++)
            {
                if (Remove(entries[i].Key, entries[i].Value))
                {
                    excess--;
                }
            }
        }
        finally
        {
            _trimming.Exit();
        }
    }

    private bool Remove(TKey key, Partition partition)
    {
        if (!_partitions.TryRemove(new KeyValuePair<TKey, Partition>(key, partition)))
        {
            return false;
        }

        Interlocked.Decrement(ref _count);
        Interlocked.Increment(ref _evicted);
        partition.Limiter.Dispose();
        return true;
    }

    private sealed class Partition(RateLimiter limiter)
    {
        public RateLimiter Limiter { get; } = limiter;

        public long LastUsed { get; set; }
    }
}
