namespace Resilience;

/// <summary>What <see cref="ResilienceStrategy.Enter"/> decided.</summary>
public readonly struct Entry
{
    private readonly object? _payload;
    private readonly long _rejection;

    private Entry(EntryKind kind, RejectionReason reason, TimeSpan? retryAfter, object? payload)
    {
        Kind = kind;
        _rejection = reason == RejectionReason.None ? 0 : Rejection.Pack(reason, retryAfter);
        _payload = payload;
    }

    /// <summary>Gets an entry that admits the call.</summary>
    public static Entry Admitted => default;

    /// <summary>Gets what was decided.</summary>
    public EntryKind Kind { get; }

    /// <summary>Gets why the call was rejected, for <see cref="EntryKind.Rejected"/>.</summary>
    public RejectionReason Reason => (RejectionReason)(_rejection & 7);

    /// <summary>Gets how long the caller should wait before trying again, for <see cref="EntryKind.Rejected"/>.</summary>
    public TimeSpan? RetryAfter => (_rejection >> 3) is var ticks && ticks > 0 ? new TimeSpan(ticks - 1) : null;

    /// <summary>Gets the rejection details in the form outcomes carry them.</summary>
    internal long PackedRejection => _rejection;

    /// <summary>Gets the reference stored as <see cref="StrategyContext.StateObject"/> on admission.</summary>
    public object? StateObject => Kind == EntryKind.Admitted ? _payload : null;

    /// <summary>Gets the admission being awaited, for <see cref="EntryKind.Pending"/>.</summary>
    public Task<Entry>? PendingEntry => Kind == EntryKind.Pending ? (Task<Entry>?)_payload : null;

    /// <summary>Admits the call and stores <paramref name="stateObject"/> as the strategy's per-call reference.</summary>
    /// <param name="stateObject">The reference to keep until exit (for example a lease); useful when admission was awaited.</param>
    /// <returns>The entry.</returns>
    public static Entry Admit(object? stateObject) => new(EntryKind.Admitted, RejectionReason.None, null, stateObject);

    /// <summary>Refuses the call.</summary>
    /// <param name="reason">Why.</param>
    /// <param name="retryAfter">How long the caller should wait before trying again, when known.</param>
    /// <returns>The entry.</returns>
    public static Entry Reject(RejectionReason reason, TimeSpan? retryAfter = null)
    {
        if (reason == RejectionReason.None)
        {
            throw new ArgumentOutOfRangeException(nameof(reason), reason, "A rejection needs a reason other than None.");
        }

        return new(EntryKind.Rejected, reason, retryAfter, null);
    }

    /// <summary>Asks the engine to await admission. The task's entry must be admitted or rejected, not pending.</summary>
    /// <param name="pending">The admission in progress. If it faults or is cancelled, its exception becomes the call's outcome.</param>
    /// <returns>The entry.</returns>
    public static Entry Pending(Task<Entry> pending)
    {
        ArgumentNullException.ThrowIfNull(pending);
        return new(EntryKind.Pending, RejectionReason.None, null, pending);
    }
}
