using System.Numerics;
using System.Runtime.CompilerServices;

namespace Resilience;

/// <summary>
/// The breaker's sliding window: per cell, a ring of buckets (the next power of two at or above
/// <see cref="BucketCount"/>), each bucket three counters (calls, failures, slow calls). Lock-free and exact:
/// <list type="bullet">
/// <item>Each counter is one 64-bit word: a 32-bit tag above a 32-bit count. The tag is the bucket's lap round the
/// ring plus the breaker's generation, so tags only grow: with time (one per lap) and with every transition (one per
/// generation, which is enough because a generation's counts are all written before the next generation's).</item>
/// <item>Every update is conditioned on the word it read. A recorder adds to a word with its own tag; replaces a word
/// with an older tag (that bucket has left the window); and drops its count when the word has a newer tag (its own
/// bucket has left the window, or its generation ended: either way the count is outside the current window). So a
/// count of a bucket still in the window is never lost and never moved, whatever the interleaving: the window's
/// totals equal the outcomes recorded in it.</item>
/// <item>Cells keep threads off each other's cache lines, and off atomic instructions: a thread that holds a
/// <see cref="ThreadSlot"/> below the number of own cells records in that cell, of which it is the only writer, with
/// plain stores (an atomic read-modify-write cost a third of a standalone recorded call in benchmarks). Other threads
/// record in the shared cells by compare-and-swap, each in the cell its probe names, moving on when it finds one
/// contended, as a LongAdder's threads do. Totals are summed only when a decision needs them (a failure or a slow
/// call) and for snapshots.</item>
/// </list>
/// Bounds: a count saturates at 4,294,967,295 per bucket and cell (it never carries into the tag); a tag wraps after
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
    private readonly int _ownCells;
    private readonly int _sharedMask;
    private readonly int _cellStride;
    private readonly int _ringMask;
    private readonly int _ringShift;

    // The bucket the last recording fell in: most recordings fall in the same one, and checking that costs one
    // multiplication where computing a bucket costs conversions to floating point and back. Any value is a bucket
    // number, so a racing or stale write only sends the next recorder to compute its bucket.
    private long _recentEpoch;

    // How many own cells from the first have been written to: sums read no further. Raised before a thread's first record
    // in its cell, so a window holds cells for many threads yet a decision reads only those of threads that recorded.
    private int _ownCellsInUse;

    // Each thread's shared cell. A processor number would need no moving, but reading it costs a call into the runtime;
    // a thread-local read costs a few loads, and a thread whose swap loses to another's moves on, so threads that run at
    // once settle on distinct cells.
    [ThreadStatic]
    private static int t_probe;

    private static int s_probes;

    /// <summary>
    /// Initializes a window with own cells for four times as many threads as processors (at least 16, at most 64): a
    /// service's thread pool runs more threads than processors, and each thread that records keeps its number.
    /// </summary>
    public CircuitWindow(CircuitBreaker owner, int bucketCount, long bucketTicks)
        : this(owner, bucketCount, bucketTicks, (int)Math.Clamp(BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount * 4), 16, ThreadSlot.Count))
    {
    }

    /// <summary>Initializes a window with <paramref name="ownCells"/> own cells (tests choose how many threads share).</summary>
    internal CircuitWindow(CircuitBreaker owner, int bucketCount, long bucketTicks, int ownCells)
    {
        _owner = owner;
        BucketCount = bucketCount;
        _bucketTicks = bucketTicks;
        _bucketsPerTick = 1d / bucketTicks;
        _ownCells = ownCells;
        var shared = (int)Math.Min(16, BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount));
        _sharedMask = shared - 1;
        var ring = (int)BitOperations.RoundUpToPowerOf2((uint)bucketCount);
        _ringMask = ring - 1;
        _ringShift = BitOperations.Log2((uint)ring);

        // Each cell starts on its own cache line and is followed by a spare one, so neighbours never share a line
        // whatever the array's alignment.
        var used = ring * CountersPerBucket;
        _cellStride = ((used + LongsPerCacheLine - 1) / LongsPerCacheLine * LongsPerCacheLine) + LongsPerCacheLine;
        _counters = new long[((ownCells + shared) * _cellStride) + LongsPerCacheLine];
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
        // One comparison serves both rare cases: cells in use are own cells, so a thread past them has none yet counted.
        var slot = ThreadSlot.Current;
        if ((uint)slot >= (uint)Volatile.Read(ref _ownCellsInUse))
        {
            RecordOutsideCellsInUse(slot, epoch, tag, failure, slow);
            return;
        }

        RecordOwn(slot, epoch, tag, failure, slow);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RecordOwn(int slot, long epoch, uint tag, bool failure, bool slow)
    {
        ref var calls = ref Counter(slot, epoch);
        AddOwn(ref calls, tag);
        if (failure)
        {
            AddOwn(ref Unsafe.Add(ref calls, 1), tag);
        }

        if (slow)
        {
            AddOwn(ref Unsafe.Add(ref calls, 2), tag);
        }
    }

    /// <summary>Counts the first call of a thread with an own cell, once that cell is counted in use; or in a shared cell.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordOutsideCellsInUse(int slot, long epoch, uint tag, bool failure, bool slow)
    {
        if ((uint)slot >= (uint)_ownCells)
        {
            RecordShared(epoch, tag, failure, slow);
            return;
        }

        // Counted in use before the first write, whatever that write's tag (an unwritten word already looks like tag 0).
        var inUse = Volatile.Read(ref _ownCellsInUse);
        while (inUse <= slot)
        {
            var seen = Interlocked.CompareExchange(ref _ownCellsInUse, slot + 1, inUse);
            if (seen == inUse)
            {
                break;
            }

            inUse = seen;
        }

        RecordOwn(slot, epoch, tag, failure, slow);
    }

    /// <summary>Counts one finished call in a shared cell: for threads without an own cell.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordShared(long epoch, uint tag, bool failure, bool slow)
    {
        var probe = Probe();
        ref var calls = ref Counter(_ownCells + (probe & _sharedMask), epoch);
        if (!AddShared(ref calls, tag, 1))
        {
            // Another thread wrote this cell's word between this thread's read and its swap: move to another cell.
            MoveProbe(probe);
        }

        if (failure)
        {
            AddShared(ref Unsafe.Add(ref calls, 1), tag, 1);
        }

        if (slow)
        {
            AddShared(ref Unsafe.Add(ref calls, 2), tag, 1);
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

            // Into the first shared cell: own cells have one writer each, their threads.
            var tag = TagOf(target, generation);
            ref var counter = ref Counter(_ownCells, target);
            AddShared(ref counter, tag, Saturate(calls));
            AddShared(ref Unsafe.Add(ref counter, 1), tag, Saturate(failures));
            AddShared(ref Unsafe.Add(ref counter, 2), tag, Saturate(slow));
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
        var inUse = Volatile.Read(ref _ownCellsInUse);
        for (var cell = 0; cell < inUse; cell++)
        {
            SumCell(cell, epoch, tag, ref calls, ref failures, ref slow);
        }

        for (var cell = _ownCells; cell <= _ownCells + _sharedMask; cell++)
        {
            SumCell(cell, epoch, tag, ref calls, ref failures, ref slow);
        }

        return (calls, failures, slow);
    }

    private void SumCell(int cell, long epoch, uint tag, ref long calls, ref long failures, ref long slow)
    {
        // Slow calls and failures first: a recorder adds the call first, so these never exceed the calls read after them.
        ref var counter = ref Counter(cell, epoch);
        slow += CountOf(Volatile.Read(ref Unsafe.Add(ref counter, 2)), tag);
        failures += CountOf(Volatile.Read(ref Unsafe.Add(ref counter, 1)), tag);
        calls += CountOf(Volatile.Read(ref counter), tag);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint TagOf(long epoch, uint generation) => unchecked((uint)(epoch >> _ringShift) + generation);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref long Counter(int cell, long epoch) =>
        ref _counters[LongsPerCacheLine + (cell * _cellStride) + ((int)(epoch & _ringMask) * CountersPerBucket)];

    /// <summary>Adds one to a counter of the calling thread's own cell, which no other thread writes: a plain store.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AddOwn(ref long word, uint tag)
    {
        var current = word;
        if ((uint)(current >>> 32) == tag && (uint)current != uint.MaxValue)
        {
            // Ordered after the stores before it, so a reader that sees a failure sees its call.
            Volatile.Write(ref word, current + 1);
        }
        else
        {
            AddOwnSlow(ref word, tag, current);
        }
    }

    // Out of line: its out variable would take a stack slot that every recorded call zeroes.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void AddOwnSlow(ref long word, uint tag, long current)
    {
        if (Next(current, tag, 1, out var next))
        {
            Volatile.Write(ref word, next);
        }
    }

    /// <summary>Adds <paramref name="amount"/> to a counter of a shared cell; returns <see langword="false"/> when a swap lost to another thread's.</summary>
    private bool AddShared(ref long word, uint tag, uint amount)
    {
        var won = true;
        while (true)
        {
            var current = Volatile.Read(ref word);
            if (!Next(current, tag, amount, out var next) || Interlocked.CompareExchange(ref word, next, current) == current)
            {
                return won;
            }

            won = false;
        }
    }

    /// <summary>
    /// The word after adding <paramref name="amount"/> with <paramref name="tag"/> to <paramref name="current"/>;
    /// <see langword="false"/> when the count is dropped (saturated, or the word belongs to a later lap or generation).
    /// </summary>
    private bool Next(long current, uint tag, uint amount, out long next)
    {
        var currentTag = (uint)(current >>> 32);
        var count = (uint)current;
        if (currentTag == tag)
        {
            next = current + Math.Min(amount, uint.MaxValue - count);
            return count != uint.MaxValue;
        }

        if (count == 0 || IsBefore(currentTag, tag) || IsStale(currentTag))
        {
            next = ((long)tag << 32) | amount;
            return true;
        }

        // A later lap or a later generation owns this word: the bucket of this count has left the window.
        next = current;
        return false;
    }

    /// <summary>The calling thread's shared-cell probe: nonzero once given, its low bits choose the cell.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Probe()
    {
        var probe = t_probe;
        return probe != 0 ? probe : FirstProbe();
    }

    // Threads take consecutive probes, so the first threads of a process start on distinct cells.
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

    // A tag that looks later than ours yet later than any recorder can have written now has wrapped round: the word
    // was left untouched for 2^31 laps or more, so it is stale. (Only read on this rare path.)
    private bool IsStale(uint tag) => IsBefore(TagOf(EpochOf(_owner.NowTicks), _owner.Generation), tag);
}
