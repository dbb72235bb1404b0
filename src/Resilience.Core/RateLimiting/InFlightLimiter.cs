using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using Resilience.Options;
using Resilience.Time;

namespace Resilience;

/// <summary>
/// Limits how many calls are in flight at once (a concurrency limiter, or bulkhead), with an optional bounded queue.
/// A <see cref="RateLimiter"/>, so it works wherever the BCL's limiters do, and the fastest concurrency path of a
/// pipeline's <c>AddRateLimiter</c>.
/// </summary>
/// <remarks>
/// The permits free under the limit, whether anyone waits, and the count of acquisitions share one 64-bit word changed
/// by compare-and-swap: acquiring is one swap and releasing one atomic add, with no lock while nobody waits, and a
/// pipeline holds its permit without any lease object. A limit change is one atomic add to the same word. The queue
/// itself is guarded by a lock, taken only when a caller must wait or a release finds waiters: ordering waiters (FIFO
/// or LIFO) with cancellation and timeouts is what a lock is for, and that path waits anyway.
/// </remarks>
public sealed class InFlightLimiter : RateLimiter, IQueueReportingLimiter
{
    // State word: the permits free under the limit (the limit less the permits in use) plus FreeBias (bits 0-31),
    // someone waits (bit 32), acquisitions modulo 2^31 (bits 33-63). The free permits run from 1 - int.MaxValue (a limit
    // of 1 lowered from int.MaxValue, all in use) to int.MaxValue: biased they fill 32 bits and never borrow from or
    // carry into the flag. The limit lives in the word, so an acquisition reads nothing else, and a limit change is an
    // add to the word that fails any swap prepared before it: no acquisition can pass a limit in force when it is made.
    // The fast path costs no more than with the limit apart (one read and one swap; it no longer reads the options),
    // and counting in the word the acquiring swap writes anyway costs it nothing.
    private const long FreeMask = uint.MaxValue;
    private const long FreeBias = int.MaxValue;
    private const long WaitingFlag = 1L << 32;
    private const int CountShift = 33;
    private const long AcquisitionUnit = 1L << CountShift;
    private const int HalfLapBits = 30;
    private const long HalfLapMask = (1L << HalfLapBits) - 1;

    // Changes take turns, each adding its difference from the limit before it; no call path takes this lock (only
    // IdleDuration, to read the word and the limit it counts against together).
    private readonly Lock _changeGate = new();

    private readonly LinkedList<Waiter> _queue = new();
    private readonly TimeProvider _timeProvider;

    private readonly MonotonicClock _clock;
    private InFlightLimiterOptions _options;

    private long _state;

    // Half laps (2^30 acquisitions) of the acquisition count, each counted by the acquisition that completed it.
    private long _halfLaps;
    private long _failures;

    // Zero-permit requests granted: they take nothing, so they stay out of the state word's count, and out of
    // IdleDuration's notion of activity (as the BCL's limiter keeps them out of its idle time).
    private long _zeroLeases;
    private int _queuedPermits;
    private IdleMark _idle;
    private int _disposed;

    /// <summary>Initializes a new limiter with every permit free.</summary>
    /// <param name="options">The options; validated and copied.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public InFlightLimiter(InFlightLimiterOptions options)
        : this(options, acquisitions: 0)
    {
    }

    /// <summary>Initializes a new limiter whose acquisition count starts at <paramref name="acquisitions"/> (tests cross its laps with it).</summary>
    internal InFlightLimiter(InFlightLimiterOptions options, long acquisitions)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _state = (acquisitions << CountShift) | (options.PermitLimit + FreeBias);
        _halfLaps = acquisitions >> HalfLapBits;
        _options = options.Clone();
        _timeProvider = options.TimeProvider ?? TimeProvider.System;
        _clock = MonotonicClock.From(options.TimeProvider);
        _idle = new IdleMark(0, _clock.NowTicks);
    }

    /// <summary>Gets a copy of the options in force.</summary>
    public InFlightLimiterOptions Options => Volatile.Read(ref _options).Clone();

    /// <summary>Gets how many acquisitions succeeded: those counted in the state word, plus the laps it wrapped.</summary>
    internal long Acquisitions
    {
        get
        {
            // Half laps first: it never runs ahead of the word read after it.
            var halfLaps = Volatile.Read(ref _halfLaps);
            return CountAcquisitions(Volatile.Read(ref _state), halfLaps);
        }
    }

    /// <summary>Gets the half laps of the acquisition count counted so far (tests check each is counted when completed).</summary>
    internal long HalfLapsCounted => Volatile.Read(ref _halfLaps);

    /// <summary>Gets whether callers may queue, without copying the options.</summary>
    internal bool HasQueue => Volatile.Read(ref _options).QueueLimit > 0;

    /// <inheritdoc />
    /// <remarks>
    /// Counted from the first reading that found the limiter idle after its last acquisition, so that releasing a permit
    /// never reads the clock: it can fall short of the true idle time by the time between two readings
    /// (<see cref="PartitionedRateLimiter"/> reads it every 100 ms), never exceed it, so idle eviction is never early.
    /// </remarks>
    public override TimeSpan? IdleDuration
    {
        get
        {
            // The word's free permits are counted against the limit it was last changed to: both are read as one. Idle
            // eviction reads this (every 100 ms); no acquisition or release does, so this lock costs no call.
            bool inUse;
            lock (_changeGate)
            {
                inUse = Free(Volatile.Read(ref _state)) != _options.PermitLimit;
            }

            if (inUse)
            {
                return null;
            }

            var now = _clock.NowTicks;
            var mark = Volatile.Read(ref _idle);
            var activity = Acquisitions;
            if (mark.Activity != activity)
            {
                // Acquired (and released) since the last reading: idle from now. A racing reader's mark is as good.
                var fresh = new IdleMark(activity, now);
                mark = ReferenceEquals(Interlocked.CompareExchange(ref _idle, fresh, mark), mark) ? fresh : Volatile.Read(ref _idle);
            }

            return TimeSpan.FromTicks(Math.Max(0, now - mark.Since));
        }
    }

    /// <summary>
    /// Applies new options to the live limiter. Raising the limit admits waiters at once; lowering it lets calls in flight
    /// finish and admits no one until fewer than the new limit are in flight, and fails at once (with a failed lease) the
    /// waiters that ask for more permits than the new limit, which could never be served. Queue settings apply to new
    /// waiters. The clock is fixed at construction.
    /// </summary>
    /// <param name="options">The new options; validated before anything changes.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range; nothing was changed.</exception>
    public void UpdateOptions(InFlightLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var fresh = options.Clone();
        lock (_changeGate)
        {
            // The add is the change's instant for every acquisition, release and statistics read: they read the limit
            // only in the word. The queue's settings apply from the options published with it.
            var change = (long)fresh.PermitLimit - _options.PermitLimit;
            if (change != 0)
            {
                Interlocked.Add(ref _state, change);
            }

            Volatile.Write(ref _options, fresh);
        }

        FailWaitersAboveLimit();
        Dispatch();
    }

    /// <summary>
    /// Fails the waiters that ask for more permits than a lowered limit: they could never be served, and at the head of
    /// the queue they would hold every waiter behind them for ever.
    /// </summary>
    private void FailWaitersAboveLimit()
    {
        List<Waiter>? failed = null;

        // An options change, not a call path: one pass over the queue. The limit is read under the lock, so that of two
        // racing changes the one in force decides.
        lock (_queue)
        {
            var limit = Volatile.Read(ref _options).PermitLimit;
            for (var node = _queue.First; node is not null;)
            {
                var next = node.Next;
                if (node.Value.PermitCount > limit)
                {
                    _queue.Remove(node);
                    _queuedPermits -= node.Value.PermitCount;
                    (failed ??= []).Add(node.Value);
                }

                node = next;
            }

            ClearWaitingFlagIfEmpty();
        }

        foreach (var waiter in failed ?? [])
        {
            CountFailure();
            waiter.Complete(LimiterLease.Failed);
        }
    }

    /// <inheritdoc />
    public override RateLimiterStatistics? GetStatistics()
    {
        // One read of the word: the free permits of one moment, under the limit of that moment.
        return new RateLimiterStatistics
        {
            CurrentAvailablePermits = Math.Max(0, Free(Volatile.Read(ref _state))),
            CurrentQueuedCount = Volatile.Read(ref _queuedPermits),
            TotalSuccessfulLeases = Acquisitions + Volatile.Read(ref _zeroLeases),
            TotalFailedLeases = Volatile.Read(ref _failures),
        };
    }

    /// <summary>
    /// Takes permits without a lease object when they are free and no waiter comes first (nobody waits, or the queue
    /// serves the newest first): the pipeline's path.
    /// </summary>
    /// <param name="permitCount">How many permits, at least one.</param>
    /// <returns>Whether the permits were taken; if so, <see cref="Release"/> them.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryTake(int permitCount)
    {
        // The first swap, straight-line, out of a loop; and the swap is judged from the new word, not the word read:
        // inlined into the engine's fast path, the word read was kept on the stack across the swap, stored and read
        // back in a block the prologue had just zeroed, which stalls (0.6 ns of a pipeline's call on a Zen 4 host).
        // The word holds the limit (as the permits free under it): a change made after this read fails the swap.
        var state = Volatile.Read(ref _state);
        if (Free(state) >= permitCount && (state & WaitingFlag) == 0)
        {
            var next = state - permitCount + AcquisitionUnit;
            if (Interlocked.CompareExchange(ref _state, next, state) + AcquisitionUnit - permitCount == next)
            {
                CountHalfLap(next);
                return true;
            }

            return TakeAfterLostSwap(permitCount);
        }

        return TryTakeAgain(permitCount);
    }

    /// <summary>Takes permits as <see cref="TryTake"/> does, after its swap lost to another core's and a back-off.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TakeAfterLostSwap(int permitCount)
    {
        Contention.BackOff();
        return TryTakeAgain(permitCount);
    }

    /// <summary>Takes permits as <see cref="TryTake"/> does, after a first look found a waiter or lost a swap.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryTakeAgain(int permitCount)
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (Free(state) < permitCount || ((state & WaitingFlag) != 0 && !NewcomersGoFirst()))
            {
                return false;
            }

            var next = state - permitCount + AcquisitionUnit;
            if (Interlocked.CompareExchange(ref _state, next, state) == state)
            {
                CountHalfLap(next);
                return true;
            }

            Contention.BackOff();
        }
    }

    /// <summary>
    /// Under the queue's lock, for a request about to wait: takes the permits if they are free and no waiter comes first
    /// (the queue says whether anyone waits; the swap lowers the flag if nobody does), or else raises the waiting flag
    /// in a swap from the very word found short. A release after that look sees the flag and dispatches; one before
    /// it fails the swap, and the request looks again. Raised before the look, the flag turned fast-path acquisitions
    /// away for a request then granted at once: refused for a waiter that never waited, while the permits were free.
    /// </summary>
    /// <param name="permitCount">How many permits; zero takes nothing, and only needs a permit free.</param>
    /// <returns>Whether the request was granted; if not, the flag is raised.</returns>
    private bool TakeOrAnnounce(int permitCount)
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            var free = Free(state);
            if (permitCount == 0 ? free > 0 : (free >= permitCount && (_queue.Count == 0 || NewcomersGoFirst())))
            {
                var next = state - permitCount + (permitCount == 0 ? 0 : AcquisitionUnit);
                if (_queue.Count == 0)
                {
                    next &= ~WaitingFlag;
                }

                if (next == state || Interlocked.CompareExchange(ref _state, next, state) == state)
                {
                    if (permitCount == 0)
                    {
                        Interlocked.Increment(ref _zeroLeases);
                    }
                    else
                    {
                        CountHalfLap(next);
                    }

                    return true;
                }
            }
            else if ((state & WaitingFlag) != 0 || Interlocked.CompareExchange(ref _state, state | WaitingFlag, state) == state)
            {
                return false;
            }
        }
    }

    /// <summary>Gives permits back and serves waiters they make room for.</summary>
    /// <param name="permitCount">How many permits.</param>
    internal void Release(int permitCount)
    {
        var state = Interlocked.Add(ref _state, permitCount);
        if ((state & WaitingFlag) != 0)
        {
            Dispatch();
        }
    }

    /// <summary>
    /// Rebuilds the full acquisition count from the word's 31 bits and the half laps counted so far, which may lag the
    /// word by the one half lap whose acquirer has not counted it yet: the count's top bit says which half it is in.
    /// </summary>
    internal static long CountAcquisitions(long state, long halfLaps)
    {
        var counted = state >>> CountShift;
        if ((halfLaps & 1) != counted >> HalfLapBits)
        {
            halfLaps++;
        }

        return (halfLaps << HalfLapBits) + (counted & HalfLapMask);
    }

    /// <summary>The permits free under the limit in <paramref name="state"/>: negative while a lowered limit has more in use.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long Free(long state) => (state & FreeMask) - FreeBias;

    /// <summary>Counts the half lap an acquisition completed, if it completed one (once every 2^30 acquisitions).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CountHalfLap(long next)
    {
        if (((next >>> CountShift) & HalfLapMask) == 0)
        {
            Interlocked.Increment(ref _halfLaps);
        }
    }

    /// <summary>Counts a refused acquisition.</summary>
    internal void CountFailure() => Interlocked.Increment(ref _failures);

    /// <inheritdoc />
    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        CheckPermitCount(permitCount);
        if (permitCount == 0 ? TryTakeNone() : TryTake(permitCount))
        {
            return Lease(permitCount);
        }

        CountFailure();
        return LimiterLease.Failed;
    }

    /// <inheritdoc />
    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
        Acquire(permitCount, cancellationToken, out _);

    /// <inheritdoc />
    ValueTask<RateLimitLease> IQueueReportingLimiter.Acquire(int permitCount, CancellationToken cancellationToken, out bool queued) =>
        Acquire(permitCount, cancellationToken, out queued);

    /// <summary>
    /// Acquires as <see cref="RateLimiter.AcquireAsync"/> does, and tells whether the request was queued (the caller
    /// waits, however soon a release serves it) rather than answered at once: a pipeline counts a wait by it.
    /// </summary>
    internal ValueTask<RateLimitLease> Acquire(int permitCount, CancellationToken cancellationToken, out bool queued)
    {
        queued = false;
        CheckPermitCount(permitCount);
        if (cancellationToken.IsCancellationRequested)
        {
            // Answered in the task, as the BCL's limiters and the token bucket answer it: a token cancelled after the
            // base class looked must not throw at the call.
            return ValueTask.FromCanceled<RateLimitLease>(cancellationToken);
        }

        if (permitCount == 0 ? TryTakeNone() : TryTake(permitCount))
        {
            return new ValueTask<RateLimitLease>(Lease(permitCount));
        }

        if (permitCount > 0 && Volatile.Read(ref _options).QueueLimit == 0)
        {
            // No queue: refused without raising the waiting flag, which would turn pipeline calls away meanwhile.
            CountFailure();
            return new ValueTask<RateLimitLease>(LimiterLease.QueueLimitReached);
        }

        return Enqueue(permitCount, cancellationToken, refuseWhenDisposed: false, out queued);
    }

    /// <summary>
    /// The pipeline's wait for one permit, once the fast path found none free: as <see cref="RateLimiter.AcquireAsync"/>,
    /// but a disposed limiter refuses the call (a failed lease, counted, as a waiter disposal fails) instead of throwing,
    /// as the token bucket refuses a wait once disposed. <paramref name="queued"/> tells whether the call was queued (a
    /// wait, however soon a release serves it) rather than answered at once.
    /// </summary>
    internal ValueTask<RateLimitLease> WaitForPermit(CancellationToken cancellationToken, out bool queued)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            queued = false;
            return ValueTask.FromCanceled<RateLimitLease>(cancellationToken);
        }

        return Enqueue(1, cancellationToken, refuseWhenDisposed: true, out queued);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        // Disposal empties the queue once; not a call path. Marked disposed under the queue's lock, so that no release
        // admits a waiter between the mark and the emptying: a call that saw the limiter disposed and then released a
        // permit handed it to a waiter that disposal was to fail.
        List<Waiter> dropped;
        lock (_queue)
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            dropped = [.. _queue];
            _queue.Clear();
            Interlocked.And(ref _state, ~WaitingFlag);
            _queuedPermits = 0;
        }

        foreach (var waiter in dropped)
        {
            // A failed lease, counted as the token bucket counts its waiters failed by disposal.
            if (waiter.Complete(LimiterLease.Failed))
            {
                CountFailure();
            }
        }
    }

    private ValueTask<RateLimitLease> Enqueue(int permitCount, CancellationToken cancellationToken, bool refuseWhenDisposed, out bool queued)
    {
        queued = false;
        var options = Volatile.Read(ref _options);
        List<Waiter>? evicted = null;
        Waiter waiter;
        // Queue path only (a caller waits, or a release found waiters): see the class remarks.
        lock (_queue)
        {
            // Disposal empties the queue under this lock: a waiter queued after it would never be served. The pipeline's
            // path does not look at disposal while a permit is free, and is refused when it would wait.
            if (Volatile.Read(ref _disposed) != 0)
            {
                ObjectDisposedException.ThrowIf(!refuseWhenDisposed, this);
                if (TryTake(permitCount))
                {
                    return new ValueTask<RateLimitLease>(Lease(permitCount));
                }

                CountFailure();
                return new ValueTask<RateLimitLease>(LimiterLease.Failed);
            }

            // Check once more, announcing the waiter if it must wait: a release between the failed take and this lock
            // is seen here, and one after it sees the flag and dispatches.
            if (TakeOrAnnounce(permitCount))
            {
                return new ValueTask<RateLimitLease>(Lease(permitCount));
            }

            // The limit was lowered below the request after the request was checked: it could never be served. (A
            // change made before this lock is seen here; one made after it fails the waiter from the queue.)
            if (permitCount > Volatile.Read(ref _options).PermitLimit)
            {
                ClearWaitingFlagIfEmpty();
                CountFailure();
                return new ValueTask<RateLimitLease>(LimiterLease.Failed);
            }

            // Room is compared by subtraction: queued permits plus a request can pass int.MaxValue.
            if (options.QueueLimit - _queuedPermits < permitCount)
            {
                if (options.QueueProcessingOrder != QueueProcessingOrder.NewestFirst || permitCount > options.QueueLimit)
                {
                    ClearWaitingFlagIfEmpty();
                    CountFailure();
                    return new ValueTask<RateLimitLease>(LimiterLease.QueueLimitReached);
                }

                // LIFO: the oldest waiters make room for the newest, as many as it needs.
                while (options.QueueLimit - _queuedPermits < permitCount && _queue.First is { } oldest)
                {
                    _queue.RemoveFirst();
                    _queuedPermits -= oldest.Value.PermitCount;
                    (evicted ??= []).Add(oldest.Value);
                }
            }

            waiter = new Waiter(this, permitCount);
            waiter.Node = _queue.AddLast(waiter);
            _queuedPermits += permitCount;
            queued = true;
        }

        foreach (var dropped in evicted ?? [])
        {
            CountFailure();
            dropped.Complete(LimiterLease.Failed);
        }

        waiter.Arm(cancellationToken, options.QueueTimeout, _timeProvider);
        return new ValueTask<RateLimitLease>(waiter.Task);
    }

    /// <summary>Lowers the waiting flag once the queue is empty (the caller holds the queue's lock).</summary>
    private void ClearWaitingFlagIfEmpty()
    {
        if (_queue.Count == 0)
        {
            Interlocked.And(ref _state, ~WaitingFlag);
        }
    }

    private void Dispatch()
    {
        List<Waiter>? admitted = null;
        // Queue path only (a caller waits, or a release found waiters): see the class remarks.
        lock (_queue)
        {
            var lifo = _options.QueueProcessingOrder == QueueProcessingOrder.NewestFirst;
            while ((lifo ? _queue.Last : _queue.First) is { } node)
            {
                var waiter = node.Value;
                var state = Volatile.Read(ref _state);
                if (Free(state) < Math.Max(waiter.PermitCount, 1))
                {
                    break;
                }

                // Move the waiter's permits to "in use" in one swap, lowering the flag with the last waiter. A zero-permit
                // waiter takes nothing: only the flag may change for it, and it is counted apart.
                var next = waiter.PermitCount == 0 ? state : state - waiter.PermitCount + AcquisitionUnit;
                if (_queue.Count == 1)
                {
                    next &= ~WaitingFlag;
                }

                if (next != state && Interlocked.CompareExchange(ref _state, next, state) != state)
                {
                    continue;
                }

                if (waiter.PermitCount == 0)
                {
                    Interlocked.Increment(ref _zeroLeases);
                }
                else
                {
                    CountHalfLap(next);
                }
                _queue.Remove(node);
                _queuedPermits -= waiter.PermitCount;
                (admitted ??= []).Add(waiter);
            }
        }

        if (admitted is null)
        {
            return;
        }

        foreach (var waiter in admitted)
        {
            if (!waiter.Complete(Lease(waiter.PermitCount)))
            {
                // Cancelled or timed out at the same moment: the permits go back.
                Release(waiter.PermitCount);
            }
        }
    }

    private void Abandon(Waiter waiter, bool cancelled)
    {
        bool othersWait;

        // Queue path only (a caller waits, or a release found waiters): see the class remarks.
        lock (_queue)
        {
            if (waiter.Node?.List is null)
            {
                return;
            }

            _queue.Remove(waiter.Node);
            _queuedPermits -= waiter.PermitCount;
            ClearWaitingFlagIfEmpty();
            othersWait = _queue.Count > 0;
        }

        // A cancelled request returns no lease, so it is no failed lease (as the BCL's limiters count); a timeout is one.
        if (cancelled)
        {
            waiter.Cancel();
        }
        else
        {
            CountFailure();
            waiter.Complete(LimiterLease.Failed);
        }

        if (othersWait)
        {
            // The waiter that left may have been the one the free permits could not serve: the next may fit now, and no
            // release may come for long.
            Dispatch();
        }
    }

    /// <summary>
    /// Whether a newcomer may take free permits while others wait, as the BCL's <see cref="ConcurrencyLimiter"/> allows
    /// when its queue serves the newest first: the newcomer is the newest.
    /// </summary>
    private bool NewcomersGoFirst() => Volatile.Read(ref _options).QueueProcessingOrder == QueueProcessingOrder.NewestFirst;

    /// <summary>
    /// Answers a zero-permit request as the BCL's <see cref="ConcurrencyLimiter"/> does: granted while a permit is free,
    /// whoever waits (it takes nothing, so it passes no one).
    /// </summary>
    private bool TryTakeNone()
    {
        if (Free(Volatile.Read(ref _state)) > 0)
        {
            Interlocked.Increment(ref _zeroLeases);
            return true;
        }

        return false;
    }

    /// <summary>The lease for taken permits: zero permits hold nothing to give back.</summary>
    private RateLimitLease Lease(int permitCount) => permitCount == 0 ? LimiterLease.Acquired : new InFlightLease(this, permitCount);

    private void CheckPermitCount(int permitCount)
    {
        var limit = Volatile.Read(ref _options).PermitLimit;
        if (permitCount < 0 || permitCount > limit)
        {
            throw new ArgumentOutOfRangeException(nameof(permitCount), permitCount, $"permitCount must be in [0, {limit}] (the permit limit).");
        }

        // Checked after the argument, as the BCL's limiters do: a request that could never be granted says so, disposed or not.
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
    }

    /// <summary>When the limiter was first seen idle after its acquisition count reached <see cref="Activity"/>.</summary>
    private sealed class IdleMark(long activity, long since)
    {
        public long Activity { get; } = activity;

        public long Since { get; } = since;
    }

    /// <summary>One queued acquisition.</summary>
    private sealed class Waiter(InFlightLimiter limiter, int permitCount)
    {
        private readonly TaskCompletionSource<RateLimitLease> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private CancellationTokenRegistration _cancellation;
        private ITimer? _timeout;
        private CancellationToken _token;

        public int PermitCount { get; } = permitCount;

        public LinkedListNode<Waiter>? Node { get; set; }

        public Task<RateLimitLease> Task => _completion.Task;

        public void Arm(CancellationToken cancellationToken, TimeSpan? timeout, TimeProvider timeProvider)
        {
            if (cancellationToken.CanBeCanceled)
            {
                _cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((Waiter)state!).OnCancelled(token), this);
            }

            if (timeout is { } wait)
            {
                _timeout = timeProvider.CreateTimer(static state => ((Waiter)state!).OnTimeout(), this, wait, Timeout.InfiniteTimeSpan);
            }

            // Armed after the queue's lock was released: a waiter served or dropped in between was disarmed before it
            // was armed, and must not keep a registration on a long-lived token or a timer. The fence keeps the arming
            // stores ahead of this read (a store may otherwise pass a later load): either this read sees the completion,
            // or the completer's Disarm, after its own fenced completion, sees the arming.
            Interlocked.MemoryBarrier();
            if (_completion.Task.IsCompleted)
            {
                Disarm();
            }
        }

        public bool Complete(RateLimitLease lease)
        {
            if (!_completion.TrySetResult(lease))
            {
                return false;
            }

            Disarm();
            return true;
        }

        public void Cancel()
        {
            _completion.TrySetCanceled(_token);
            Disarm();
        }

        private void OnCancelled(CancellationToken token)
        {
            _token = token;
            limiter.Abandon(this, cancelled: true);
        }

        private void OnTimeout() => limiter.Abandon(this, cancelled: false);

        private void Disarm()
        {
            _cancellation.Dispose();
            _timeout?.Dispose();
        }
    }
}
