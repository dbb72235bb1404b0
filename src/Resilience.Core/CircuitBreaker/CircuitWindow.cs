using System.Numerics;
using System.Runtime.CompilerServices;

namespace Resilience;

/// <summary>
/// The breaker's sliding window: <c>BucketCount</c> buckets per stripe (in a ring of the next power of two), each bucket three counters (calls, failures,
/// slow calls). Lock-free and exact:
/// <list type="bullet">
/// <item>Each counter is one 64-bit word, a 32-bit tag (the bucket's epoch mixed with the breaker's generation) above a
/// 32-bit count. A recorder whose tag matches increments the word; one whose tag differs replaces the stale word by
/// compare-and-swap, so a reset can never erase a count of the current epoch: the swap fails and is retried.</item>
/// <item>Counters are striped by processor, as a LongAdder is, so threads on different cores do not bounce one cache
/// line; totals are summed only when a decision needs them (on a failure or a slow call, and for snapshots).</item>
/// </list>
/// The one imprecision: a thread that saw a matching tag and increments just after another thread moved the word to
/// the next epoch adds its count to that next bucket. Totals are unchanged; at most one count per concurrently
/// recording thread can move one bucket later, and only at a bucket boundary.
/// </summary>
internal sealed class CircuitWindow
{
    private const int CountersPerBucket = 3;
    private const int LongsPerCacheLine = 8;

    private readonly long[] _counters;
    private readonly int _stripeMask;
    private readonly int _stripeStride;
    private readonly double _bucketsPerTick;

    // The ring holds a power of two of buckets (at least BucketCount), so finding an epoch's bucket is a mask, not a division.
    private readonly int _ringMask;

    public CircuitWindow(int bucketCount, TimeSpan samplingDuration)
    {
        BucketCount = bucketCount;
        BucketTicks = Math.Max(1, samplingDuration.Ticks / bucketCount);
        _bucketsPerTick = 1d / BucketTicks;
        var stripes = (int)Math.Min(64, BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount));
        _stripeMask = stripes - 1;
        var ring = (int)BitOperations.RoundUpToPowerOf2((uint)bucketCount);
        _ringMask = ring - 1;

        // Each stripe starts on its own cache line and is followed by a spare one, so neighbours never share a line.
        var used = ring * CountersPerBucket;
        _stripeStride = ((used + LongsPerCacheLine - 1) / LongsPerCacheLine * LongsPerCacheLine) + LongsPerCacheLine;
        _counters = new long[(stripes * _stripeStride) + LongsPerCacheLine];
    }

    public int BucketCount { get; }

    public long BucketTicks { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long EpochOf(long nowTicks) => (long)(nowTicks * _bucketsPerTick);

    /// <summary>Counts one finished call in the bucket of <paramref name="epoch"/> for <paramref name="generation"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Record(long epoch, uint generation, bool failure, bool slow)
    {
        var tag = Tag(epoch, generation);
        var index = LongsPerCacheLine + ((Thread.GetCurrentProcessorId() & _stripeMask) * _stripeStride) + ((int)(epoch & _ringMask) * CountersPerBucket);
        ref var calls = ref _counters[index];
        Add(ref calls, tag);
        if (failure)
        {
            Add(ref Unsafe.Add(ref calls, 1), tag);
        }

        if (slow)
        {
            Add(ref Unsafe.Add(ref calls, 2), tag);
        }
    }

    /// <summary>Sums the buckets of the window that ends with <paramref name="epoch"/>, for <paramref name="generation"/>.</summary>
    public (long Calls, long Failures, long Slow) Sum(long epoch, uint generation)
    {
        long calls = 0, failures = 0, slow = 0;
        for (var age = 0; age < BucketCount; age++)
        {
            var bucketEpoch = epoch - age;
            if (bucketEpoch < 0)
            {
                break;
            }

            var tag = Tag(bucketEpoch, generation);
            var offset = (int)(bucketEpoch & _ringMask) * CountersPerBucket;
            for (var stripe = 0; stripe <= _stripeMask; stripe++)
            {
                var index = LongsPerCacheLine + (stripe * _stripeStride) + offset;
                calls += CountOf(Volatile.Read(ref _counters[index]), tag);
                failures += CountOf(Volatile.Read(ref _counters[index + 1]), tag);
                slow += CountOf(Volatile.Read(ref _counters[index + 2]), tag);
            }
        }

        return (calls, failures, slow);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Tag(long epoch, uint generation) => unchecked(((uint)epoch * 0x9E3779B1u) ^ (generation * 0x85EBCA6Bu) ^ 0x5bd1e995u);

    private static long CountOf(long word, uint tag) => (uint)(word >>> 32) == tag ? (uint)word : 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(ref long word, uint tag)
    {
        var current = Volatile.Read(ref word);
        if ((uint)(current >>> 32) == tag)
        {
            Interlocked.Increment(ref word);
            return;
        }

        AddToStaleWord(ref word, tag, current);
    }

    private static void AddToStaleWord(ref long word, uint tag, long current)
    {
        var fresh = ((long)tag << 32) | 1;
        while (true)
        {
            var seen = Interlocked.CompareExchange(ref word, fresh, current);
            if (seen == current)
            {
                return;
            }

            if ((uint)(seen >>> 32) == tag)
            {
                Interlocked.Increment(ref word);
                return;
            }

            current = seen;
        }
    }
}
