using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using Resilience.Time;

namespace Resilience;

/// <summary>
/// A lock-free token bucket: <see cref="TokenBucketLimiterOptions.PermitsPerSecond"/> refill a bucket of
/// <see cref="TokenBucketLimiterOptions.Burst"/> permits. A <see cref="ReplenishingRateLimiter"/>, so it works wherever
/// the BCL's limiters do (ASP.NET Core's rate-limiting middleware, <see cref="PartitionedRateLimiter"/>), and the
/// fastest path of a pipeline's <c>AddRateLimiter</c>.
/// </summary>
/// <remarks>
/// <para>
/// The bucket is one 64-bit word, the "theoretical arrival time" of the generic cell rate algorithm: the time at which
/// the bucket will be full again. Taking n permits moves it n intervals later by one compare-and-swap, if it stays
/// within the burst of now. There is no timer and no queue: a waiter reserves its future slot with the same swap and
/// sleeps until it; a waiter cancelled before its slot gives the slot back if nobody reserved after it (and the options
/// did not change since).
/// </para>
/// <para>
/// Time is the <see cref="MonotonicClock"/>: with the system clock every decision is precise to the operating system's
/// tick (typically 1 to 4 ms), which bounds how early a refill can be seen; with any other provider it is exact.
/// Arithmetic is in 1/256 of a 100 ns tick (0.4 ns). An interval is rounded up to that unit, so the bucket is never
/// faster than its rate, and slower by less than 0.4 ns a permit: at most 0.04 % around a million permits a second (none
/// at a million, whose 2,560 units are whole), 1.5 % at a hundred million (25.6 units round up to 26), 15 % at a billion
/// (where the 2.56 units of a permit's interval round up to 3).
/// </para>
/// <para>
/// Successful leases are not counted one by one (a shared counter would cost a second atomic operation per call):
/// they are derived from the arrival time itself, which every granted permit moves by one interval. What else moves it
/// is booked on the side: the idle time it jumps over when the bucket was full, permits spent without a lease of their
/// own, and a waiter's lease (counted when it is served, not when it reserves). That booking happens only off the common
/// path (a full bucket, several permits, a waiter), and <see cref="GetStatistics"/> reads it consistently with the
/// arrival time. A request for zero permits moves nothing, so it is counted apart, as the BCL's
/// <see cref="TokenBucketRateLimiter"/> counts it: a success while at least one permit is there, a failure otherwise.
/// </para>
/// </remarks>
public sealed class TokenBucketLimiter : ReplenishingRateLimiter, IQueueReportingLimiter
{
    private const long Scale = 256;

    // While an options change moves the arrival, the arrival holds that change's marker: a negative number (a real
    // arrival never is), distinct for every change, so that a thread completing a change it saw long ago finds its
    // marker gone and changes nothing. Takers that meet a marker complete the change (see Pending).
    private const long FirstMarker = long.MinValue;

    // The most an options change keeps owed to waiters (scaled): ten years, the longest a full bucket may take to refill.
    private const long MaxDebt = TokenBucketLimiterOptions.MaxRefillSeconds * TimeSpan.TicksPerSecond * Scale;

    private readonly MonotonicClock _clock;
    private readonly long _origin;
    private readonly Lock _updateGate = new();
    private Settings _settings;

    // Every grant writes the arrival (and a full bucket's grant its bookings): alone on their cache line, so that the
    // fields every call only reads stay shared in each core's cache while two cores take turns with the arrival.
    private TokenBucketLedger _ledger;

    // The options change in progress while the arrival holds its marker; the number of changes made (under the gate).
    private Pending? _pending;
    private long _changes;
    private long _failures;

    // Zero-permit requests granted: they move no arrival, so they cannot be derived from it (off the common path).
    private long _zeroLeases;
    // Permits waiters wait for: the BCL's limiters report queued permits, not queued requests.
    private long _waitingPermits;
    private int _disposed;

    // Cancelled by disposal, to fail the requests that wait (created by the first one, so a bucket that never waits has none).
    private CancellationTokenSource? _disposal;

    /// <summary>Initializes a new, full bucket.</summary>
    /// <param name="options">The options; validated and copied.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public TokenBucketLimiter(TokenBucketLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _settings = new Settings(options);
        _clock = MonotonicClock.From(options.TimeProvider);
        _origin = _clock.NowTicks;
    }

    /// <summary>Gets a copy of the options in force.</summary>
    public TokenBucketLimiterOptions Options => Volatile.Read(ref _settings).Options.Clone();

    /// <inheritdoc />
    public override bool IsAutoReplenishing => true;

    /// <summary>Gets whether acquisitions may wait (a maximum wait is set), without copying the options.</summary>
    internal bool CanWait => Volatile.Read(ref _settings).MaxWait > 0;

    /// <inheritdoc />
    public override TimeSpan ReplenishmentPeriod => TimeSpan.FromTicks(Math.Max(1, Volatile.Read(ref _settings).Interval / Scale));

    /// <inheritdoc />
    public override TimeSpan? IdleDuration
    {
        get
        {
            var now = Now();
            var arrival = Arrival();
            return arrival <= now ? TimeSpan.FromTicks((now - arrival) / Scale) : null;
        }
    }

    /// <summary>
    /// Applies a new rate, burst and maximum wait to the live bucket: the permits it holds now are kept (capped at the
    /// new burst), neither refilled nor drained, and so are the permits it owes to waiters (up to ten years of the new
    /// rate). The clock is fixed at construction.
    /// </summary>
    /// <param name="options">The new options; validated before anything changes.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range; nothing was changed.</exception>
    public void UpdateOptions(TokenBucketLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var shape = new Settings(options);

        // Updates are rare and take turns (an administrative path, never a call's); calls never wait for this gate.
        lock (_updateGate)
        {
            Interlocked.Increment(ref _ledger.Writers);
            try
            {
                var spin = default(SpinWait);
                while (true)
                {
                    var arrival = Arrival();
                    var current = Volatile.Read(ref _settings);
                    var now = Now();
                    if (Volatile.Read(ref _ledger.Writers) != 1)
                    {
                        // A writer that swapped before this read has yet to book it: the totals are not final.
                        spin.SpinOnce(sleep1Threshold: -1);
                        continue;
                    }

                    var skipped = Volatile.Read(ref _ledger.Skipped);
                    var unleased = Volatile.Read(ref _ledger.Unleased);
                    var credited = Volatile.Read(ref _ledger.Credited);

                    // Below zero while waiters hold reservations: that debt is kept (as permits, at the new rate), or
                    // the bucket would refill under the waiters and admit their permits twice.
                    var available = Math.Min(current.Capacity - (Math.Max(arrival, now) - now), current.Capacity);

                    // A debt turned into a far slower rate's permits can outgrow the bucket's 64-bit time (and wrap into a
                    // negative arrival, which reads as a change's marker for ever): it is kept up to ten years of the new
                    // rate, as a full bucket refills within ten years.
                    var kept = Math.Min((long)Math.Max((double)available / current.Interval * shape.Interval, -MaxDebt), shape.Capacity);
                    var rebased = now + shape.Capacity - kept;
                    if (rebased == arrival && kept == shape.Capacity && now > 0)
                    {
                        // A bucket full at this very instant would rebase onto the arrival it replaces: a taker that read
                        // that arrival and the old settings just before the change would find it again and swap, pricing
                        // its permits at the old rate on the new rate's arrival (its count then off by a lease). Any
                        // arrival at or before now is the same full bucket; this one differs from the old. (With the rate
                        // and burst unchanged the arrival may come back too, but then the old price is the new one.)
                        rebased = now - 1;
                    }
                    else if (rebased == arrival && kept < shape.Capacity && (shape.Interval != current.Interval || shape.Capacity != current.Capacity))
                    {
                        // So can a bucket that is not full, when the permits it holds fill the same time at the new rate
                        // and burst (2 of 4 at 100/s are 2 of 3 at 50/s): a taker that read the old arrival and settings
                        // would swap the old rate's interval onto it, half a permit at the new rate. The arrival moves
                        // 1/256 of a tick earlier instead: the same whole permits, and no taker's old arrival.
                        rebased--;
                    }

                    // The new rate's count starts from the leases granted so far, at the arrival it starts from; the
                    // change's marker names these settings (see TokenBucketReservation.Epoch).
                    var marker = FirstMarker + ++_changes;
                    var next = shape.From(current.Leases(arrival, skipped, unleased, credited), rebased - skipped, unleased, credited, marker);

                    // The arrival and the settings change together: the arrival holds the change's marker while the
                    // settings are published, so no taker can apply one rate's cost to the other's arrival. A taker
                    // that meets the marker completes the change itself (it never waits for this thread).
                    var pending = new Pending(current, next, marker, rebased);
                    Interlocked.Exchange(ref _pending, pending);

                    // A give-back that began since the check above may have read no change pending, and could swap the
                    // arrival back by its old-rate cost after this change rebased it onto the very value it reserved:
                    // the change waits for it. (The exchange above and the give-back's increment are both full fences:
                    // of the two reads after them, one sees the other.)
                    if (Volatile.Read(ref _ledger.Writers) != 1)
                    {
                        Volatile.Write(ref _pending, null);
                        spin.SpinOnce(sleep1Threshold: -1);
                        continue;
                    }

                    if (Interlocked.CompareExchange(ref _ledger.Arrival, pending.Marker, arrival) == arrival)
                    {
                        Complete(pending);
                        Volatile.Write(ref _pending, null);
                        return;
                    }
                }
            }
            finally
            {
                Interlocked.Decrement(ref _ledger.Writers);
            }
        }
    }

    /// <inheritdoc />
    public override bool TryReplenish() => false;

    /// <inheritdoc />
    public override RateLimiterStatistics? GetStatistics()
    {
        // Zero permits' shortfall, negated: the time's worth of permits in the bucket, in permits of the settings it was
        // read with (a change since then has kept them in its own).
        var available = -Shortfall(0, out _, out var settings);
        return new RateLimiterStatistics
        {
            CurrentAvailablePermits = Math.Max(0, available / settings.Interval),
            CurrentQueuedCount = Volatile.Read(ref _waitingPermits),
            TotalSuccessfulLeases = Leases() + Volatile.Read(ref _zeroLeases),
            TotalFailedLeases = Volatile.Read(ref _failures),
        };
    }

    /// <summary>Takes permits without a lease object (the pipeline's path); a refusal is counted by the caller.</summary>
    /// <param name="permitCount">How many permits.</param>
    /// <param name="retryAfter">When refused: the exact time until enough permits will be there.</param>
    /// <returns>Whether the permits were taken.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryTake(int permitCount, out TimeSpan retryAfter) => TryTake(permitCount, _clock.NowTicks, out retryAfter);

    /// <summary>Takes permits as <see cref="TryTake(int, out TimeSpan)"/> does, at a reading of <see cref="Clock"/> the caller made.</summary>
    /// <param name="permitCount">How many permits.</param>
    /// <param name="clockTicks">A reading of <see cref="Clock"/>, at most a few moments old.</param>
    /// <param name="retryAfter">When refused: the exact time until enough permits will be there.</param>
    /// <returns>Whether the permits were taken.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryTake(int permitCount, long clockTicks, out TimeSpan retryAfter)
    {
        // One clock reading serves every retry (after a lost swap and its back-off): a reading made earlier in the call
        // can only see fewer permits, never more. (A pipeline shares one reading among its strategies as they enter.)
        var now = Scaled(clockTicks);
        var arrival = Volatile.Read(ref _ledger.Arrival);
        while (true)
        {
            // Read after the arrival: settings older than the arrival they are applied to cannot be seen (see FirstMarker).
            var settings = Volatile.Read(ref _settings);
            if (arrival < now || permitCount != 1)
            {
                // A full bucket (the arrival jumps to now), several permits or an options change: a swap with booking.
                return TakeNow(permitCount, now, out retryAfter);
            }

            var next = arrival + settings.Interval;
            var excess = next - now - settings.Capacity;
            if (excess > 0)
            {
                // No swap checks a refusal: an options change that came between the reads of the arrival and the
                // settings would price the old arrival at the new rate. The arrival read again tells (a change moves it).
                var current = Volatile.Read(ref _ledger.Arrival);
                if (current != arrival)
                {
                    arrival = current;
                    continue;
                }

                return Refused(excess, out retryAfter);
            }

            if (Interlocked.CompareExchange(ref _ledger.Arrival, next, arrival) == arrival)
            {
                return Granted(out retryAfter);
            }

            return TakeAfterLostSwap(permitCount, now, out retryAfter);
        }
    }

    /// <summary>
    /// Takes permits after the fast path lost its swap to another core: after a back-off, by the booked path, which
    /// answers any arrival. Out of line, so that the fast path, inlined into a pipeline's, calls nothing from a loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TakeAfterLostSwap(int permitCount, long now, out TimeSpan retryAfter)
    {
        Contention.BackOff();
        return TakeNow(permitCount, now, out retryAfter);
    }

    /// <summary>Takes permits by the booked path without waiting, answering as <see cref="TryTake(int, long, out TimeSpan)"/> does.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TakeNow(int permitCount, long now, out TimeSpan retryAfter) =>
        TakeBooked(permitCount, now, false, out var taken)
            ? Granted(out retryAfter)
            : Refused(taken.Wait, out retryAfter);

    private static bool Granted(out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        return true;
    }

    private static bool Refused(long excess, out TimeSpan retryAfter)
    {
        retryAfter = Ticks(excess);
        return false;
    }

    /// <summary>
    /// Takes permits, or (when <paramref name="wait"/>) reserves them up to the maximum wait ahead, and books what the swap does besides
    /// granting one permit: the idle time the arrival jumps over and a lease's extra permits.
    /// </summary>
    /// <param name="permitCount">How many permits.</param>
    /// <param name="now">
    /// The bucket's time (scaled), read by the caller before the arrival: no clock read sits between the read of the
    /// arrival and its swap, where another core may take the arrival's line and fail the swap, and the reading the
    /// caller already made serves.
    /// </param>
    /// <param name="wait">Whether to reserve permits ahead, up to the maximum wait.</param>
    /// <param name="reservation">What the swap did or would have done.</param>
    /// <returns>
    /// Whether the permits were taken; <paramref name="reservation"/> is what the swap did or would have done, its wait how
    /// long past the bucket the permits reach (scaled).
    /// </returns>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TakeBooked(int permitCount, long now, bool wait, out TokenBucketReservation reservation)
    {
        Interlocked.Increment(ref _ledger.Writers);
        try
        {
            while (true)
            {
                var arrival = Arrival();
                var settings = Volatile.Read(ref _settings);
                var cost = permitCount * settings.Interval;
                var reserved = Math.Max(arrival, now) + cost;
                var excess = reserved - now - settings.Capacity;
                reservation = new TokenBucketReservation(reserved, excess, cost, permitCount, settings.Epoch);
                if (excess > (wait ? settings.MaxWait : 0))
                {
                    // A refusal is checked by no swap: read again, an arrival that moved may have moved with the settings.
                    if (Volatile.Read(ref _ledger.Arrival) != arrival)
                    {
                        continue;
                    }

                    return false;
                }

                if (Interlocked.CompareExchange(ref _ledger.Arrival, reserved, arrival) == arrival)
                {
                    if (now > arrival)
                    {
                        Interlocked.Add(ref _ledger.Skipped, now - arrival);
                    }

                    // A lease counts once, through its first permit, unless it must wait: a waiter is no lease until it
                    // is served (see WaitAsync), so all its permits are booked unleased until then.
                    var unleased = excess > 0 ? permitCount : permitCount - 1;
                    if (unleased > 0)
                    {
                        Interlocked.Add(ref _ledger.Unleased, unleased);
                    }

                    return true;
                }

                // Lost to another core: backs off as no writer (nothing was swapped), so that readers of the totals and
                // an options change, which wait for writers, do not wait out the back-off too.
                Interlocked.Decrement(ref _ledger.Writers);
                Contention.BackOff();
                Interlocked.Increment(ref _ledger.Writers);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _ledger.Writers);
        }
    }

    /// <summary>Reads the arrival, completing an options change that is moving it.</summary>
    private long Arrival()
    {
        while (true)
        {
            var arrival = Volatile.Read(ref _ledger.Arrival);
            if (arrival >= 0)
            {
                return arrival;
            }

            if (Volatile.Read(ref _pending) is { } pending && pending.Marker == arrival)
            {
                Complete(pending);
            }
        }
    }

    /// <summary>
    /// Publishes a change's settings, then releases the arrival to its rebased value. Any thread may, any number of
    /// times: both swaps take effect once, and never after a later change (its settings and marker differ).
    /// </summary>
    private void Complete(Pending pending)
    {
        Interlocked.CompareExchange(ref _settings, pending.Settings, pending.Previous);
        Interlocked.CompareExchange(ref _ledger.Arrival, pending.Arrival, pending.Marker);
    }

    /// <summary>The successful leases so far, read consistently with the arrival time.</summary>
    private long Leases()
    {
        var spin = default(SpinWait);
        while (true)
        {
            if (Volatile.Read(ref _ledger.Writers) == 0)
            {
                var settings = Volatile.Read(ref _settings);
                var skipped = Volatile.Read(ref _ledger.Skipped);
                var unleased = Volatile.Read(ref _ledger.Unleased);
                var credited = Volatile.Read(ref _ledger.Credited);
                var arrival = Volatile.Read(ref _ledger.Arrival);

                // The bookings only grow, so unchanged values with no writer on either side mean a consistent view.
                if (Volatile.Read(ref _ledger.Writers) == 0 && skipped == Volatile.Read(ref _ledger.Skipped) && unleased == Volatile.Read(ref _ledger.Unleased)
                    && credited == Volatile.Read(ref _ledger.Credited) && ReferenceEquals(settings, Volatile.Read(ref _settings)))
                {
                    return settings.Leases(arrival, skipped, unleased, credited);
                }
            }

            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>
    /// Takes permits, or reserves them up to the maximum wait ahead: the pipeline's and <c>AcquireAsync</c>'s path once
    /// the bucket has too few. A refusal is counted.
    /// </summary>
    /// <param name="permitCount">How many permits.</param>
    /// <param name="reservation">When taken: the reservation, to wait for if <see cref="TokenBucketReservation.MustWait"/>.</param>
    /// <param name="retryAfter">
    /// When refused because the wait would pass the maximum: the exact time until enough permits will be there; when
    /// refused because the bucket is disposed and nothing would serve the wait: <see langword="null"/>, as the waiters
    /// disposal fails are told nothing.
    /// </param>
    /// <returns>Whether the permits were taken or reserved.</returns>
    internal bool TryReserve(int permitCount, out TokenBucketReservation reservation, out TimeSpan? retryAfter)
    {
        // A disposed bucket still grants permits that are there, but reserves none (the pipeline's path reaches here
        // disposed): a slot reserved only to be given back at once is stranded if another call reserves in between.
        var disposed = Volatile.Read(ref _disposed) != 0;
        if (!TakeBooked(permitCount, Now(), !disposed, out reservation))
        {
            CountFailure();
            retryAfter = disposed && reservation.Wait <= Volatile.Read(ref _settings).MaxWait ? null : Ticks(reservation.Wait);
            return false;
        }

        retryAfter = null;
        return true;
    }

    /// <summary>
    /// Waits until a reservation's time: <see langword="true"/> then (the waiter is served and counted), an exception
    /// for the caller's cancelled token, or <see langword="false"/> when the bucket is disposed first (a failed lease,
    /// counted). A waiter that does not get its permits gives its slot back if nobody reserved after it.
    /// </summary>
    internal Task<bool> WaitAsync(TokenBucketReservation reservation, CancellationToken cancellationToken) =>
        Wait(reservation, served: true, failed: false, cancellationToken);

    /// <summary>Waits until a reservation's time, as <see cref="WaitAsync"/> does, answering with one of two results.</summary>
    private Task<TResult> Wait<TResult>(TokenBucketReservation reservation, TResult served, TResult failed, CancellationToken cancellationToken)
    {
        Interlocked.Add(ref _waitingPermits, reservation.PermitCount);
        var waiter = new ReservationWaiter<TResult>(this, reservation, served, failed);
        waiter.Arm(reservation.Wait, cancellationToken);
        return waiter.Task;
    }

    /// <summary>
    /// Gives a waiter's slot back if nobody reserved after it and the options did not change since; otherwise it stays
    /// spent, leased to no one (its permits were booked unleased when reserved).
    /// </summary>
    private void GiveBack(TokenBucketReservation reservation)
    {
        // The arrival moves back and its permits are credited together: a reader of the totals sees both or neither. A
        // change may rebase the arrival onto the very value reserved, where the slot's cost, at the old rate, is no
        // longer its permits: the epoch tells of a change made, the pending change of one under way (which, seeing this
        // writer, waits for it; see UpdateOptions).
        Interlocked.Increment(ref _ledger.Writers);
        if (Volatile.Read(ref _pending) is null
            && Volatile.Read(ref _settings).Epoch == reservation.Epoch
            && Interlocked.CompareExchange(ref _ledger.Arrival, reservation.Arrival - reservation.Cost, reservation.Arrival) == reservation.Arrival)
        {
            Interlocked.Add(ref _ledger.Credited, reservation.PermitCount);
        }

        Interlocked.Decrement(ref _ledger.Writers);
    }

    /// <summary>The token disposal cancels; created by the first waiter, and cancelled already if disposal came first.</summary>
    private CancellationToken DisposalToken()
    {
        var disposal = Volatile.Read(ref _disposal);
        if (disposal is null)
        {
            var created = new CancellationTokenSource();
            disposal = Interlocked.CompareExchange(ref _disposal, created, null) ?? created;
            if (!ReferenceEquals(disposal, created))
            {
                created.Dispose();
            }
        }

        // Published before reading the flag, as disposal sets the flag before reading the source: one sees the other.
        if (Volatile.Read(ref _disposed) != 0)
        {
            disposal.Cancel();
        }

        return disposal.Token;
    }

    /// <inheritdoc />
    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        CheckPermitCount(permitCount);
        if (permitCount == 0)
        {
            return Probe(out var until) ? LimiterLease.Acquired : LimiterLease.FailedWithRetryAfter(Ticks(until));
        }

        if (TryTake(permitCount, out var retryAfter))
        {
            return LimiterLease.Acquired;
        }

        CountFailure();
        return LimiterLease.FailedWithRetryAfter(retryAfter);
    }

    /// <inheritdoc />
    /// <remarks>Not an async method: a permit count out of range or a disposed bucket throws at the call, as the BCL's limiters do.</remarks>
    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
        Acquire(permitCount, cancellationToken, out _);

    /// <inheritdoc />
    ValueTask<RateLimitLease> IQueueReportingLimiter.Acquire(int permitCount, CancellationToken cancellationToken, out bool queued) =>
        Acquire(permitCount, cancellationToken, out queued);

    /// <summary>
    /// Acquires as <see cref="RateLimiter.AcquireAsync"/> does, and tells whether the request reserved permits ahead
    /// (the caller waits, however soon the reservation's time comes) rather than being answered at once: a pipeline
    /// counts a wait by it.
    /// </summary>
    internal ValueTask<RateLimitLease> Acquire(int permitCount, CancellationToken cancellationToken, out bool queued)
    {
        queued = false;
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<RateLimitLease>(cancellationToken);
        }

        if (Volatile.Read(ref _settings).MaxWait == 0)
        {
            return new ValueTask<RateLimitLease>(AttemptAcquireCore(permitCount));
        }

        CheckPermitCount(permitCount);
        if (permitCount == 0)
        {
            return AwaitPermitAsync(cancellationToken);
        }

        if (TryTake(permitCount, out _))
        {
            return new ValueTask<RateLimitLease>(LimiterLease.Acquired);
        }

        if (!TryReserve(permitCount, out var reservation, out var retryAfter))
        {
            return new ValueTask<RateLimitLease>(retryAfter is { } wait ? LimiterLease.FailedWithRetryAfter(wait) : LimiterLease.Failed);
        }

        queued = reservation.MustWait;
        return queued ? WaitForLeaseAsync(reservation, cancellationToken) : new ValueTask<RateLimitLease>(LimiterLease.Acquired);
    }

    private ValueTask<RateLimitLease> WaitForLeaseAsync(TokenBucketReservation reservation, CancellationToken cancellationToken) =>
        new(Wait<RateLimitLease>(reservation, LimiterLease.Acquired, LimiterLease.Failed, cancellationToken));

    /// <summary>
    /// Answers a zero-permit request: granted (and counted) while at least one permit is there, as the BCL's bucket
    /// grants it; refused and counted otherwise. It takes nothing, so the arrival is only read.
    /// </summary>
    /// <param name="until">When refused: how long until one permit will be there (scaled).</param>
    /// <returns>Whether a permit is there.</returns>
    private bool Probe(out long until)
    {
        until = Shortfall(1, out _);
        if (until <= 0)
        {
            Interlocked.Increment(ref _zeroLeases);
            return true;
        }

        CountFailure();
        return false;
    }

    /// <summary>
    /// A zero-permit request that may wait: it completes when one permit is there, without taking it (the BCL's bucket
    /// queues it until a replenishment leaves a permit), or fails at once with the time until then when that is beyond the
    /// maximum wait. It reserves nothing, so the permit it waits for may be reserved meanwhile by a later request; it then
    /// waits for the next one, never past the maximum wait from when it asked.
    /// </summary>
    private ValueTask<RateLimitLease> AwaitPermitAsync(CancellationToken cancellationToken)
    {
        var deadline = Now() + Volatile.Read(ref _settings).MaxWait;
        if (PermitOrRefusal(deadline, out var until) is { } answer)
        {
            return new ValueTask<RateLimitLease>(Counted(answer));
        }

        var waiter = new PermitWaiter(this, deadline);
        waiter.Arm(until, cancellationToken);
        return new ValueTask<RateLimitLease>(waiter.Task);
    }

    /// <summary>
    /// A zero-permit request's answer now, not yet counted (see <see cref="Counted"/>): granted while a permit is there,
    /// refused with the time until one when that is beyond <paramref name="deadline"/>; <see langword="null"/> to wait
    /// <paramref name="until"/> (scaled).
    /// </summary>
    private LimiterLease? PermitOrRefusal(long deadline, out long until)
    {
        until = Shortfall(1, out var now);
        return until <= 0 ? LimiterLease.Acquired
            : now + until > deadline ? LimiterLease.FailedWithRetryAfter(Ticks(until))
            : null;
    }

    /// <summary>Counts a zero-permit request's answer: a granted one apart (it moves no arrival), a refused one as a failure.</summary>
    private LimiterLease Counted(LimiterLease answer)
    {
        if (answer.IsAcquired)
        {
            Interlocked.Increment(ref _zeroLeases);
        }
        else
        {
            CountFailure();
        }

        return answer;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        // Fails the requests that wait (see DisposalToken for the order). DisposeAsync comes here too, with disposing false.
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Volatile.Read(ref _disposal)?.Cancel();
        }

        base.Dispose(disposing);
    }

    /// <summary>Counts a refused acquisition (rare next to successes, so one shared counter is enough).</summary>
    internal void CountFailure() => Interlocked.Increment(ref _failures);

    /// <summary>Gets the clock the bucket reads.</summary>
    internal ref readonly MonotonicClock Clock => ref _clock;

    private long Now() => Scaled(_clock.NowTicks);

    /// <summary>A scaled duration as a <see cref="TimeSpan"/>, rounded up to whole ticks (never early).</summary>
    private static TimeSpan Ticks(long scaled) => TimeSpan.FromTicks((scaled + Scale - 1) / Scale);

    /// <summary>A reading of the clock as the bucket's scaled time since its origin.</summary>
    private long Scaled(long clockTicks) => (clockTicks - _origin) * Scale;

    /// <summary>How long (scaled) until <paramref name="permitCount"/> permits will be there; zero or less if they are now.</summary>
    private long Shortfall(int permitCount, out long now) => Shortfall(permitCount, out now, out _);

    /// <summary>As <see cref="Shortfall(int, out long)"/>, with the settings the arrival was read with.</summary>
    private long Shortfall(int permitCount, out long now, out Settings settings)
    {
        // A reader that swaps nothing cannot let a failed swap tell it that a change came between its reads of the arrival
        // and the settings, as a taker does: it reads the settings on both sides of the arrival. A change publishes its
        // settings (new ones every time) before it releases the arrival, so an arrival read between two reads of the
        // same settings is theirs.
        long arrival;
        while (true)
        {
            settings = Volatile.Read(ref _settings);
            arrival = Arrival();
            if (ReferenceEquals(settings, Volatile.Read(ref _settings)))
            {
                break;
            }
        }

        now = Now();
        return Math.Max(arrival, now) + (permitCount * settings.Interval) - now - settings.Capacity;
    }

    private void CheckPermitCount(int permitCount)
    {
        var burst = Volatile.Read(ref _settings).Burst;
        if (permitCount < 0 || permitCount > burst)
        {
            throw new ArgumentOutOfRangeException(nameof(permitCount), permitCount, $"permitCount must be in [0, {burst}] (the burst).");
        }

        // Checked after the argument, as the BCL's limiters do: a request that could never be granted says so, disposed or not.
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
    }

    /// <summary>An options change in progress: the settings it replaces and publishes, its marker, the arrival to release.</summary>
    private sealed class Pending(Settings previous, Settings settings, long marker, long arrival)
    {
        public Settings Previous { get; } = previous;

        public Settings Settings { get; } = settings;

        public long Marker { get; } = marker;

        public long Arrival { get; } = arrival;
    }

    private sealed class Settings
    {
        /// <summary>Validates and converts options; the counts start from zero.</summary>
        public Settings(TokenBucketLimiterOptions options)
        {
            options.Validate();
            Options = options.Clone();
            Burst = options.Burst;
            // Rounded up: rounded to nearest, the interval of 500 million permits a second (5.12 units) was 5, and the
            // bucket granted 2.4 % more than its rate.
            Interval = Math.Max(1, (long)Math.Ceiling(Scale * TimeSpan.TicksPerSecond / options.PermitsPerSecond));
            Capacity = Burst * Interval;
            MaxWait = options.MaxWait.Ticks * Scale;
        }

        private Settings(Settings shape, long baseLeases, long baseGranted, long baseUnleased, long baseCredited, long epoch)
        {
            Options = shape.Options;
            Burst = shape.Burst;
            Interval = shape.Interval;
            Capacity = shape.Capacity;
            MaxWait = shape.MaxWait;
            BaseLeases = baseLeases;
            BaseGranted = baseGranted;
            BaseUnleased = baseUnleased;
            BaseCredited = baseCredited;
            Epoch = epoch;
        }

        public TokenBucketLimiterOptions Options { get; }

        public int Burst { get; }

        /// <summary>Scaled ticks per permit.</summary>
        public long Interval { get; }

        /// <summary>Scaled ticks of a full bucket.</summary>
        public long Capacity { get; }

        public long MaxWait { get; }

        /// <summary>These settings, taking effect with the counts so far.</summary>
        public Settings From(long baseLeases, long baseGranted, long baseUnleased, long baseCredited, long epoch) =>
            new(this, baseLeases, baseGranted, baseUnleased, baseCredited, epoch);

        /// <summary>Leases granted before these settings took effect.</summary>
        public long BaseLeases { get; }

        /// <summary>The arrival, less the skipped time, when these settings took effect.</summary>
        public long BaseGranted { get; }

        /// <summary>The unleased permits when these settings took effect.</summary>
        public long BaseUnleased { get; }

        /// <summary>The credited leases when these settings took effect.</summary>
        public long BaseCredited { get; }

        /// <summary>Names these settings among every change of the bucket: zero at construction, the change's marker since.</summary>
        public long Epoch { get; }

        /// <summary>
        /// The leases granted so far: every permit granted under these settings moved the arrival by one interval, apart
        /// from the time it skipped; a lease of n permits counts once; a waiter counts when it is served.
        /// </summary>
        public long Leases(long arrival, long skipped, long unleased, long credited) =>
            BaseLeases + ((arrival - skipped - BaseGranted + (Interval / 2)) / Interval) - (unleased - BaseUnleased) + (credited - BaseCredited);
    }

    /// <summary>
    /// A request that waits on the bucket's clock until its time, its caller's cancellation or the bucket's disposal,
    /// whichever comes first. It is completed, and its bookkeeping done, within the callback of that end (the cancelling
    /// or disposing call itself), as a queued request of the BCL's bucket is: when <c>Cancel</c> or <c>Dispose</c> returns,
    /// the request has completed and left the statistics. Its continuations run asynchronously, never inside that call.
    /// </summary>
    /// <typeparam name="TResult">The request's answer.</typeparam>
    private abstract class Waiter<TResult>(TokenBucketLimiter bucket) : TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        private CancellationTokenRegistration _cancellation;
        private CancellationTokenRegistration _disposal;
        private ITimer? _timer;
        private int _ended;

        protected TokenBucketLimiter Bucket { get; } = bucket;

        /// <summary>Starts waiting (<paramref name="scaled"/>, more than zero) for the caller's token.</summary>
        public void Arm(long scaled, CancellationToken cancellationToken)
        {
            // The timer exists before it can fire, so an end that comes at once finds it to dispose, or a wait to renew.
            _timer = Bucket._clock.Provider.CreateTimer(static state => ((Waiter<TResult>)state!).OnElapsed(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            if (cancellationToken.CanBeCanceled)
            {
                _cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((Waiter<TResult>)state!).Cancelled(token), this);
            }

            _disposal = Bucket.DisposalToken().UnsafeRegister(static state => ((Waiter<TResult>)state!).Disposed(), this);
            WaitOn(scaled);

            // An end that came while arming (a token cancelled already) disarmed only what was armed before it: the fence
            // keeps the arming stores ahead of this read, so either it sees the end or the ender's Disarm sees the arming.
            Interlocked.MemoryBarrier();
            if (Volatile.Read(ref _ended) != 0)
            {
                Disarm();
            }
        }

        /// <summary>The waiter's time came: it ends served (or refused), or waits on with <see cref="WaitOn"/>.</summary>
        protected abstract void OnElapsed();

        /// <summary>Undoes the waiter's bookkeeping for a caller that cancelled: it gets no lease.</summary>
        protected abstract void OnCancelled();

        /// <summary>Undoes the waiter's bookkeeping for a disposed bucket, and gives its failed answer.</summary>
        protected abstract TResult OnDisposed();

        /// <summary>Claims the waiter's end: only its first end (time, cancellation or disposal) does anything.</summary>
        protected bool TryEnd() => Interlocked.Exchange(ref _ended, 1) == 0;

        /// <summary>Completes a waiter whose end was claimed.</summary>
        protected void Complete(TResult result)
        {
            TrySetResult(result);
            Disarm();
        }

        /// <summary>Waits (a further) <paramref name="scaled"/> time.</summary>
        protected void WaitOn(long scaled)
        {
            try
            {
                _timer!.Change(Ticks(scaled), Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // Ended meanwhile (cancelled or disposed): nothing to wait for.
            }
        }

        private void Cancelled(CancellationToken token)
        {
            if (TryEnd())
            {
                OnCancelled();
                TrySetCanceled(token);
                Disarm();
            }
        }

        private void Disposed()
        {
            if (TryEnd())
            {
                Complete(OnDisposed());
            }
        }

        private void Disarm()
        {
            _cancellation.Dispose();
            _disposal.Dispose();
            _timer?.Dispose();
        }
    }

    /// <summary>
    /// A request waiting for the permits it reserved. A waiter that does not get them gives its slot back if nobody
    /// reserved after it; one served is the lease its reservation did not count (see <see cref="TakeBooked"/>).
    /// </summary>
    private sealed class ReservationWaiter<TResult>(TokenBucketLimiter bucket, TokenBucketReservation reservation, TResult served, TResult failed)
        : Waiter<TResult>(bucket)
    {
        protected override void OnElapsed()
        {
            if (TryEnd())
            {
                Interlocked.Add(ref Bucket._waitingPermits, -reservation.PermitCount);
                Interlocked.Increment(ref Bucket._ledger.Credited);
                Complete(served);
            }
        }

        protected override void OnCancelled()
        {
            // A cancelled request returns no lease, so it is no failed lease (as the BCL's limiters count).
            Bucket.GiveBack(reservation);
            Interlocked.Add(ref Bucket._waitingPermits, -reservation.PermitCount);
        }

        protected override TResult OnDisposed()
        {
            // The reservation is given back as a cancelled one is, and the request fails.
            Bucket.GiveBack(reservation);
            Bucket.CountFailure();
            Interlocked.Add(ref Bucket._waitingPermits, -reservation.PermitCount);
            return failed;
        }
    }

    /// <summary>
    /// A zero-permit request waiting for one permit to be there, without taking it. It reserves nothing, so the permit it
    /// waits for may be reserved meanwhile by a later request; it then waits for the next, never past its deadline.
    /// </summary>
    private sealed class PermitWaiter(TokenBucketLimiter bucket, long deadline) : Waiter<RateLimitLease>(bucket)
    {
        protected override void OnElapsed()
        {
            if (Bucket.PermitOrRefusal(deadline, out var until) is not { } answer)
            {
                WaitOn(until);
                return;
            }

            // Answered and counted only by the waiter's end: a cancellation or disposal meanwhile has answered it.
            if (TryEnd())
            {
                Complete(Bucket.Counted(answer));
            }
        }

        protected override void OnCancelled()
        {
            // No lease, so no failed lease; nothing was taken.
        }

        protected override RateLimitLease OnDisposed()
        {
            Bucket.CountFailure();
            return LimiterLease.Failed;
        }
    }
}

