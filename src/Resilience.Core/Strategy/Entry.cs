using System.Runtime.CompilerServices;

namespace Resilience;

/// <summary>What <see cref="ResilienceStrategy.Enter"/> decided.</summary>
public readonly struct Entry
{
    // Two words, so an entry is returned in registers: _value is 0 for an admission, the packed rejection (> 0) for a
    // rejection, -1 for a pending admission, -3 for a pending admission of ours that queued the call (a wait, however
    // soon it ends), -2 for an admission wait of ours that failed; _payload is the admission's state object, the
    // pending task or the wait's exception.
    private readonly long _value;
    private readonly object? _payload;

    private Entry(long value, object? payload)
    {
        _value = value;
        _payload = payload;
    }

    /// <summary>Gets an entry that admits the call.</summary>
    public static Entry Admitted => default;

    /// <summary>Gets what was decided.</summary>
    public EntryKind Kind
    {
        // Inlined wherever read: a getter called out of line takes the entry's address, which keeps the engine's
        // entry on the stack (a store and a reload per strategy) instead of in the two registers it is returned in.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _value > 0 ? EntryKind.Rejected : _value < 0 ? EntryKind.Pending : EntryKind.Admitted;
    }

    /// <summary>Gets why the call was rejected, for <see cref="EntryKind.Rejected"/>.</summary>
    public RejectionReason Reason => _value > 0 ? (RejectionReason)(_value & 7) : RejectionReason.None;

    /// <summary>Gets how long the caller should wait before trying again, for <see cref="EntryKind.Rejected"/>.</summary>
    public TimeSpan? RetryAfter => _value > 0 && (_value >> 3) is var ticks && ticks > 0 ? new TimeSpan(ticks - 1) : null;

    /// <summary>Gets the reference stored as <see cref="StrategyContext.StateObject"/> on admission.</summary>
    public object? StateObject => _value == 0 ? _payload : null;

    /// <summary>Gets the admission being awaited, for <see cref="EntryKind.Pending"/>.</summary>
    public Task<Entry>? PendingEntry => _value is PendingValue or QueuedValue ? (Task<Entry>?)_payload : null;

    /// <summary>Gets whether the call waits in a limiter's queue (<see cref="Queued"/>), whenever it is served.</summary>
    internal bool IsQueued => _value == QueuedValue;

    /// <summary>Gets the exception an awaited admission ended with (<see cref="Failed"/>), or <see langword="null"/>.</summary>
    internal Exception? Failure => _value == FailedValue ? (Exception?)_payload : null;

    /// <summary>Gets the rejection details in the form outcomes carry them.</summary>
    internal long PackedRejection
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _value > 0 ? _value : 0;
    }

    private const long PendingValue = -1;
    private const long FailedValue = -2;
    private const long QueuedValue = -3;

    /// <summary>Gets whether this is a plain admission: no state object, nothing pending (the engine's fast path).</summary>
    internal bool IsPlainAdmission => _value == 0 && _payload is null;

    /// <summary>Admits the call and stores <paramref name="stateObject"/> as the strategy's per-call reference.</summary>
    /// <param name="stateObject">The reference to keep until exit (for example a lease); useful when admission was awaited.</param>
    /// <returns>The entry.</returns>
    public static Entry Admit(object? stateObject) => new(0, stateObject);

    /// <summary>Refuses the call.</summary>
    /// <param name="reason">Why.</param>
    /// <param name="retryAfter">How long the caller should wait before trying again, when known.</param>
    /// <returns>The entry.</returns>
    public static Entry Reject(RejectionReason reason, TimeSpan? retryAfter = null)
    {
        if (reason is <= RejectionReason.None or > RejectionReason.Custom)
        {
            throw new ArgumentOutOfRangeException(nameof(reason), reason, "A rejection needs a reason other than None.");
        }

        return new(Rejection.Pack(reason, retryAfter), null);
    }

    /// <summary>Asks the engine to await admission. The task's entry must be admitted or rejected, not pending.</summary>
    /// <param name="pending">The admission in progress. If it faults or is cancelled, its exception becomes the call's outcome.</param>
    /// <returns>The entry.</returns>
    public static Entry Pending(Task<Entry> pending)
    {
        ArgumentNullException.ThrowIfNull(pending);
        return new(PendingValue, pending);
    }

    /// <summary>A rejection already packed (as <see cref="Rejection"/> packs one: its reason is never None).</summary>
    /// <param name="packedRejection">The packed reason and retry-after.</param>
    /// <returns>The entry.</returns>
    internal static Entry Rejected(long packedRejection) => new(packedRejection, null);

    /// <summary>
    /// Ends an awaited admission (the result of a <see cref="Pending"/> task, never an entry of its own) with the exception
    /// the wait ended with, read rather than rethrown: a wait cut short (an outer timeout) then costs no thrown exception.
    /// </summary>
    /// <param name="failure">What the wait ended with.</param>
    /// <returns>The entry.</returns>
    internal static Entry Failed(Exception failure) => new(FailedValue, failure);

    /// <summary>
    /// Asks the engine to await admission, as <see cref="Pending"/> does, for a call a limiter queued: a wait, decided as
    /// the call is queued. The task may already be complete when the engine looks (another thread served the queue, or
    /// the clock moved past a bucket's reservation meanwhile); the call waited all the same.
    /// </summary>
    /// <param name="pending">The admission in progress.</param>
    /// <returns>The entry.</returns>
    internal static Entry Queued(Task<Entry> pending) => new(QueuedValue, pending);
}
