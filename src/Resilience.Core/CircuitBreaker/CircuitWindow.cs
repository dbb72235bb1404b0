using System.Numerics;
using System.Runtime.CompilerServices;

namespace Resilience;

/// <summary>
/// The breaker's sliding window: per stripe, a ring of buckets (the next power of two at or above
/// <see cref="BucketCount"/>), each bucket three counters (calls, failures, slow calls). Lock-free and exact:
/// <list type="bullet">
/// <item>Each counter is one 64-bit word: a 32-bit tag above a 32-bit count. The tag is the bucket's lap round the
/// ring plus the breaker's generation, so tags only grow: with time (one per lap) and with every transition (one per
/// generation, which is enough because a generation's counts are all written before the next generation's).</item>
/// <item>Every update is a compare-and-swap conditioned on the word it read. A recorder adds to a word with its own
/// tag; replaces a word with an older tag (that bucket has left the window); and drops its count when the word has a
/// newer tag (its own bucket has left the window, or its generation ended: either way the count is outside the
/// current window). So a count of a bucket still in the window is never lost and never moved, whatever the
/// interleaving: the window's totals equal the outcomes recorded in it.</item>
/// <item>Counters are striped, as a LongAdder's are: a thread records in its own stripe and moves to another when it
/// finds one contended, so threads running at once do not bounce one cache line; totals are summed only when a
/// decision needs them (a failure or a slow call) and for snapshots.</item>
/// </list>
/// Bounds: a count saturates at 4,294,967,295 per bucket and stripe (it never carries into the tag); a tag wraps after
/// 2^32 laps and generations, and a word left untouched that long could be read as current once.
/// </summary>
internal sealed class CircuitWindow
{
    private const int CountersPerBucket = 3;
    private const int LongsPerCacheLine = 8;

    private readonly CircuitBreaker _owner;
    private readonly long[] _counters;
    private readonly double _bucketsPerTick;
    private readonly long _bucketTicks;
    private readonly int _stripeMask;
    private readonly int _stripeStride;
    private readonly int _ringMask;
    private readonly int _ringShift;

    // The bucket the last recording fell in: most recordings fall in the same one, and checking that costs one
    // multiplication where computing a bucket costs conversions to floating point and back. Any value is a bucket
    // number, so a racing or stale write only sends the next recorder to compute its bucket.
    private long _recentEpoch;

    // Each thread's stripe. A processor number would need no moving, but reading it costs a call into the runtime
    // (about 2 ns a recorded call, a quarter of the standalone breaker's); a thread-local read costs a few loads, and a
    // thread whose swap loses to another's moves on, so threads that run at once settle on distinct stripes.
    [ThreadStatic]
    private static int t_probe;

    private static int s_probes;

    public CircuitWindow(CircuitBreaker owner, int bucketCount, long bucketTicks)
    {
        _owner = owner;
        BucketCount = bucketCount;
        _bucketTicks = bucketTicks;
        _bucketsPerTick = 1d / bucketTicks;
        var stripes = (int)Math.Min(64, BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount));
        _stripeMask = stripes - 1;
        var ring = (int)BitOperations.RoundUpToPowerOf2((uint)bucketCount);
        _ringMask = ring - 1;
        _ringShift = BitOperations.Log2((uint)ring);

        // Each stripe starts on its own cache line and is followed by a spare one, so neighbours never share a line
        // whatever the array's alignment.
        var used = ring * CountersPerBucket;
        _stripeStride = ((used + LongsPerCacheLine - 1) / LongsPerCacheLine * LongsPerCacheLine) + LongsPerCacheLine;
        _counters = new long[(stripes * _stripeStride) + LongsPerCacheLine];
    }

    public int BucketCount { get; }

    public long BucketTicks => _bucketTicks;

    /// <summary>Returns the bucket number of an instant: exactly <c>nowTicks / BucketTicks</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long EpochOf(long nowTicks)
    {
        // A multiplication by the reciprocal instead of a 64-bit division, which costs tens of cycles. Its rounding can
        // put an instant at a bucket boundary one bucket off; one multiplication finds and corrects that.
        var epoch = (long)(nowTicks * _bucketsPerTick);
        var start = epoch * _bucketTicks;
        return start > nowTicks ? epoch - 1 : start + _bucketTicks <= nowTicks ? epoch + 1 : epoch;
    }

    /// <summary>Counts one finished call of <paramref name="generation"/> in the bucket holding <paramref name="nowTicks"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Record(long nowTicks, uint generation, bool failure, bool slow)
    {
        var epoch = _recentEpoch;
        if ((ulong)(nowTicks - (epoch * _bucketTicks)) >= (ulong)_bucketTicks)
        {
            epoch = RecentEpochOf(nowTicks);
        }

        var tag = TagOf(epoch, generation);
        var probe = _stripeMask == 0 ? 0 : Probe();
        ref var calls = ref Counter(probe & _stripeMask, epoch);
        if (!Add(ref calls, tag, 1))
        {
            // Another thread wrote this stripe's word between this thread's read and its swap: move to another stripe.
            MoveProbe(probe);
        }

        if (failure)
        {
            Add(ref Unsafe.Add(ref calls, 1), tag, 1);
        }

        if (slow)
        {
            Add(ref Unsafe.Add(ref calls, 2), tag, 1);
        }
    }

    /// <summary>Computes the bucket of an instant and remembers it for the recordings that follow.</summary>
    private long RecentEpochOf(long nowTicks)
    {
        var epoch = EpochOf(nowTicks);
        _recentEpoch = epoch;
        return epoch;
    }

    /// <summary>Sums the window that ends with the bucket holding <paramref name="nowTicks"/>, for <paramref name="generation"/>.</summary>
    public (long Calls, long Failures, long Slow) Sum(long nowTicks, uint generation)
    {
        var epoch = EpochOf(nowTicks);
        long calls = 0, failures = 0, slow = 0;
        for (var age = 0; age < BucketCount && age <= epoch; age++)
        {
            var bucket = SumBucket(epoch - age, generation);
            calls += bucket.Calls;
            failures += bucket.Failures;
            slow += bucket.Slow;
        }

        return (calls, failures, slow);
    }

    /// <summary>
    /// Carries the counts of <paramref name="old"/> (a window of another shape) into this one: each bucket's counts go
    /// to the bucket of this window that holds the old bucket's last instant (or now, for the current bucket), so they
    /// leave the window no earlier than before and at most one bucket later; counts older than this window are dropped.
    /// </summary>
    public void CopyFrom(CircuitWindow old, long nowTicks, uint generation)
    {
        var oldEpoch = old.EpochOf(nowTicks);
        var oldest = EpochOf(nowTicks) - BucketCount;
        for (var age = 0; age < old.BucketCount && age <= oldEpoch; age++)
        {
            var epoch = oldEpoch - age;
            var (calls, failures, slow) = old.SumBucket(epoch, generation);
            var target = EpochOf(Math.Min(((epoch + 1) * old._bucketTicks) - 1, nowTicks));
            if ((calls | failures | slow) == 0 || target <= oldest)
            {
                continue;
            }

            var tag = TagOf(target, generation);
            ref var counter = ref Counter(0, target);
            AddSlow(ref counter, tag, Saturate(calls));
            AddSlow(ref Unsafe.Add(ref counter, 1), tag, Saturate(failures));
            AddSlow(ref Unsafe.Add(ref counter, 2), tag, Saturate(slow));
        }
    }

    private static uint Saturate(long count) => (uint)Math.Min(count, uint.MaxValue);

    private static long CountOf(long word, uint tag) => (uint)(word >>> 32) == tag ? (uint)word : 0;

    // Wrap-safe order of tags: a is older than b.
    private static bool IsBefore(uint a, uint b) => (int)(a - b) < 0;

    private (long Calls, long Failures, long Slow) SumBucket(long epoch, uint generation)
    {
        var tag = TagOf(epoch, generation);
        long calls = 0, failures = 0, slow = 0;
        for (var stripe = 0; stripe <= _stripeMask; stripe++)
        {
            // Slow calls and failures first: a recorder adds the call first, so these never exceed the calls read after them.
            ref var counter = ref Counter(stripe, epoch);
            slow += CountOf(Volatile.Read(ref Unsafe.Add(ref counter, 2)), tag);
            failures += CountOf(Volatile.Read(ref Unsafe.Add(ref counter, 1)), tag);
            calls += CountOf(Volatile.Read(ref counter), tag);
        }

        return (calls, failures, slow);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint TagOf(long epoch, uint generation) => unchecked((uint)(epoch >> _ringShift) + generation);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref long Counter(int stripe, long epoch) =>
        ref _counters[LongsPerCacheLine + (stripe * _stripeStride) + ((int)(epoch & _ringMask) * CountersPerBucket)];

    /// <summary>Adds <paramref name="amount"/> to a counter; returns <see langword="false"/> when a swap lost to another thread's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Add(ref long word, uint tag, uint amount)
    {
        var current = Volatile.Read(ref word);
        if ((uint)(current >>> 32) == tag && (uint)current <= uint.MaxValue - amount)
        {
            // Judged from the new word, not the word read: inlined into the engine's fast path, the word read was kept on
            // the stack across the swap, in a block the prologue had just zeroed, and reading it back there stalls.
            var next = current + amount;
            if (Interlocked.CompareExchange(ref word, next, current) + amount == next)
            {
                return true;
            }

            AddSlow(ref word, tag, amount);
            return false;
        }

        AddSlow(ref word, tag, amount);
        return true;
    }

    /// <summary>The calling thread's stripe probe: nonzero once given, its low bits choose the stripe.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Probe()
    {
        var probe = t_probe;
        return probe != 0 ? probe : FirstProbe();
    }

    // Threads take consecutive probes, so the first threads of a process start on distinct stripes.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int FirstProbe() => t_probe = Interlocked.Increment(ref s_probes) | int.MinValue;

    // A xorshift step, as LongAdder rehashes a contended thread: threads that keep colliding part after a few steps.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void MoveProbe(int probe)
    {
        probe ^= probe << 13;
        probe ^= probe >>> 17;
        probe ^= probe << 5;
        t_probe = probe | int.MinValue;
    }

    private void AddSlow(ref long word, uint tag, uint amount)
    {
        while (true)
        {
            var current = Volatile.Read(ref word);
            var currentTag = (uint)(current >>> 32);
            var count = (uint)current;
            long next;
            if (currentTag == tag)
            {
                if (count == uint.MaxValue)
                {
                    return;
                }

                next = current + Math.Min(amount, uint.MaxValue - count);
            }
            else if (count == 0 || IsBefore(currentTag, tag) || IsStale(currentTag))
            {
                next = ((long)tag << 32) | amount;
            }
            else
            {
                // A later lap or a later generation owns this word: the bucket of this count has left the window.
                return;
            }

            if (Interlocked.CompareExchange(ref word, next, current) == current)
            {
                return;
            }
        }
    }

    // A tag that looks later than ours yet later than any recorder can have written now has wrapped round: the word
    // was left untouched for 2^31 laps or more, so it is stale. (Only read on this rare path.)
    private bool IsStale(uint tag) => IsBefore(TagOf(EpochOf(_owner.NowTicks), _owner.Generation), tag);
}
