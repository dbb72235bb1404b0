using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Resilience.Time;

namespace Resilience;

/// <summary>
/// Cancels an attempt that runs longer than <see cref="TimeoutOptions.Timeout"/> and reports a
/// <see cref="TimeoutRejectedException"/>, distinct from the caller's own cancellation. Cooperative: the callback must
/// observe the token it receives.
/// </summary>
/// <remarks>
/// <para>
/// Arming a timer per call is what makes timeouts expensive. Calls that start within the same slot (a sixteenth of the
/// timeout) share one cancellation source whose deadline covers them all: one timer per slot whatever the call rate,
/// and nothing allocated per call. The price is a bounded imprecision: a call is cancelled no earlier than its timeout
/// and at most one slot (timeout / 16) later.
/// </para>
/// <para>
/// When the caller's token can be cancelled, a call needs a source of its own so that the caller's cancel reaches only
/// that call, linked to the caller's token by a registration. On the system clock it is pooled: armed for the timeout
/// rounded up to a whole millisecond (the system timer's unit), reset and returned to the pool after the call (one that
/// fired is never reused). The runtime cannot reset a timer of another clock, so there each call's source is created
/// armed for the exact timeout and disposed after the call.
/// </para>
/// <para>
/// So the token a callback receives is its call's until the callback's task completes, no longer: a pooled source then
/// serves a later call, and work the callback leaves running must not keep using that token.
/// </para>
/// </remarks>
public sealed class TimeoutStrategy : ResilienceStrategy
{
    private const int SlotsPerTimeout = 16;
    private const int MaxPooled = 64;

    private readonly ConcurrentQueue<OwnedSource> _pool = new();
    private readonly MonotonicClock _clock;
    private readonly TimeProvider _timeProvider;
    private readonly bool _pooled;
    private TimeoutOptions _options;
    private SharedSlot? _slot;

    /// <summary>Initializes a new instance.</summary>
    /// <param name="options">The options; validated and copied.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public TimeoutStrategy(TimeoutOptions options)
        : base((options ?? throw new ArgumentNullException(nameof(options))).Name)
    {
        options.Validate();
        _options = options.Clone();
        _timeProvider = options.TimeProvider ?? TimeProvider.System;
        _pooled = ReferenceEquals(_timeProvider, TimeProvider.System);
        _clock = MonotonicClock.From(options.TimeProvider);
    }

    /// <inheritdoc />
    internal override bool ShapesAttempts => true;

    /// <summary>Gets the timeout in force.</summary>
    public TimeSpan Timeout => Volatile.Read(ref _options).Timeout;

    /// <summary>
    /// Applies a new timeout to calls that start from now on, and its <see cref="TimeoutOptions.OnTimeout"/> to timeouts
    /// reported from now on. The clock is fixed at construction.
    /// </summary>
    /// <param name="options">The new options; validated before anything changes.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range; nothing was changed.</exception>
    public void UpdateOptions(TimeoutOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Volatile.Write(ref _options, options.Clone());
        Volatile.Write(ref _slot, null);
    }

    /// <inheritdoc />
    protected internal override Entry Enter(ref StrategyContext context)
    {
        var timeout = _options.Timeout;
        if (context.CancellationToken.CanBeCanceled)
        {
            return EnterOwned(ref context, timeout);
        }

        // The call keeps the timeout it was armed for as a number, not the slot as a reference (a reference stored
        // through the context costs a write barrier): on exit, the token it passed inward is the slot's. The owned path
        // has a method of its own: while its registration on the caller's token was in this one, the token tested
        // above was kept on the stack, stored and reloaded on every call.
        var slot = CurrentSlot(timeout, context.NowTicks(in _clock));
        context.State = timeout.Ticks;
        context.CancellationToken = slot.Token;
        return Entry.Admitted;
    }

    /// <inheritdoc />
    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
    {
        if (context.StateObject is not null)
        {
            return ExitOwned(ref context, in outcome);
        }

        // A shared slot: inner strategies have restored their tokens by now, so the token in force is the slot's.
        return context.CancellationToken.IsCancellationRequested
            ? Expired(ref context, in outcome, new TimeSpan(context.State))
            : ExitAction.Continue;
    }

    // The caller's token can be cancelled: the call needs a source of its own (kept out of Enter, which the engine may
    // inline into its fast path: this path's locals would enlarge the frame every call zeroes).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Entry EnterOwned(ref StrategyContext context, TimeSpan timeout)
    {
        OwnedSource? owned;
        if (!_pooled)
        {
            // Armed at construction, to the tick: CancelAfter drops a fraction of a millisecond (a 3.5 ms timeout fired
            // at 3 ms), and the runtime resets only its own timers, so a source armed on another clock is never reused.
            owned = new OwnedSource(new CancellationTokenSource(timeout, _timeProvider));
        }
        else
        {
            if (!_pool.TryDequeue(out owned))
            {
                owned = new OwnedSource(new CancellationTokenSource());
            }

            // The system timer counts whole milliseconds: rounded up, never down, so no call is cancelled early.
            owned.Source.CancelAfter(new TimeSpan((timeout.Ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond * TimeSpan.TicksPerMillisecond));
        }

        owned.Timeout = timeout;
        owned.Link = context.CancellationToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), owned.Source);
        context.StateObject = owned;
        context.CancellationToken = owned.Source.Token;
        return Entry.Admitted;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ExitAction ExitOwned(ref StrategyContext context, in ExitOutcome outcome)
    {
        var owned = (OwnedSource)context.StateObject!;
        owned.Link.Dispose();
        var outer = context.IncomingCancellationToken;
        var token = owned.Source.Token;

        // Read before the source goes back to the pool, where another call may take it and arm it anew.
        var timeout = owned.Timeout;

        // Cancelled from outside (the caller, or an outer timeout): not this timeout's doing.
        var timedOut = owned.Source.IsCancellationRequested && !outer.IsCancellationRequested;
        if (_pooled && owned.Source.TryReset() && _pool.Count < MaxPooled)
        {
            _pool.Enqueue(owned);
        }
        else
        {
            owned.Source.Dispose();
        }

        if (timedOut)
        {
            return Expired(ref context, in outcome, timeout);
        }

        if (outcome.Exception is OperationCanceledException passed && passed.CancellationToken == token && outer.IsCancellationRequested)
        {
            // The callback saw this strategy's token, but the cancellation came from outside: report it as the
            // token passed in, so a caller's `catch (OperationCanceledException e) when (e.CancellationToken == token)`
            // matches (as HttpClient does); the callback's exception, of the same type, stays as the inner exception.
            return ExitAction.Fail(passed is TaskCanceledException
                ? new TaskCanceledException(passed.Message, passed, outer)
                : new OperationCanceledException(passed.Message, passed, outer));
        }

        return ExitAction.Continue;
    }

    /// <summary>The call's token fired by this timeout: a cancellation the callback reported becomes the timeout.</summary>
    /// <param name="context">The call.</param>
    /// <param name="outcome">The outcome judged.</param>
    /// <param name="timeout">The timeout the call was armed for, not the one in force now: UpdateOptions may have changed it since.</param>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ExitAction Expired(ref StrategyContext context, in ExitOutcome outcome, TimeSpan timeout)
    {
        if (outcome.Exception is not OperationCanceledException cancellation || outcome.IsCallerCancelled)
        {
            return ExitAction.Continue;
        }

        var expired = new TimeoutRejectedException(timeout, context.PipelineName, Name, cancellation);

        // Told after the source went back to the pool or was disposed: a hook that throws, whose exception the
        // engine makes the outcome, leaves nothing behind.
        _options.OnTimeout?.Invoke(new TimeoutExpired(context.PipelineName, Name, timeout));
        return ExitAction.Fail(expired);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private SharedSlot CurrentSlot(TimeSpan timeout, long now)
    {
        // The slot is judged on the coarse clock but its source fires on a precise timer: a short timeout's source can
        // fire before the coarse clock has moved past the slot. A call never joins a source that has fired, nor one
        // armed for another timeout (a slot opened with the old timeout as UpdateOptions cleared the slot).
        var slot = Volatile.Read(ref _slot);
        return slot is not null && now < slot.OpenUntil && slot.Timeout == timeout && !slot.Token.IsCancellationRequested
            ? slot
            : OpenSlot(timeout, now, slot);
    }

    /// <summary>Opens a slot in place of <paramref name="slot"/>, or joins the one another call opened first.</summary>
    private SharedSlot OpenSlot(TimeSpan timeout, long now, SharedSlot? slot)
    {
        // A new slot: it takes calls for a sixteenth of the timeout and cancels them all one timeout after it closes.
        // The coarse clock lags real time by up to its resolution, so a call may join that much after the slot closed
        // in real time: its source waits that much longer, and no call is cancelled before its timeout. No floor on the
        // length (the shortest timeout, 1 ms, gives 62.5 µs): a floor of 1 ms made a timeout under 16 ms late by more
        // than its sixteenth, and the coarse clock, moving in whole milliseconds, opens at most one slot per step anyway.
        var length = timeout.Ticks / SlotsPerTimeout;
        var lag = _clock.IsCoarse ? MonotonicClock.CoarseResolution : TimeSpan.Zero;
        var fresh = new SharedSlot(now + length, timeout, new CancellationTokenSource(TimeSpan.FromTicks(length) + timeout + lag, _timeProvider));
        var seen = Interlocked.CompareExchange(ref _slot, fresh, slot);
        if (ReferenceEquals(seen, slot))
        {
            return fresh;
        }

        fresh.Source.Dispose();
        return seen!;
    }

    /// <summary>A cancellation source shared by the calls that start in one slot.</summary>
    private sealed class SharedSlot(long openUntil, TimeSpan timeout, CancellationTokenSource source)
    {
        public long OpenUntil { get; } = openUntil;

        public TimeSpan Timeout { get; } = timeout;

        public CancellationTokenSource Source { get; } = source;

        public CancellationToken Token { get; } = source.Token;
    }

    /// <summary>A pooled source owned by one call at a time, and its link to that call's caller token.</summary>
    private sealed class OwnedSource(CancellationTokenSource source)
    {
        public CancellationTokenSource Source { get; } = source;

        public CancellationTokenRegistration Link { get; set; }

        /// <summary>Gets or sets the timeout the source was armed for by the call that owns it.</summary>
        public TimeSpan Timeout { get; set; }
    }
}
