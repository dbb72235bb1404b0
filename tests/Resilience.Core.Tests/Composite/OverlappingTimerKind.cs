namespace Resilience.Tests.Composite;

/// <summary>What a timer of <see cref="OverlappingCallsModel"/> ends when it fires.</summary>
internal enum OverlappingTimerKind
{
    /// <summary>The attempt's timeout: the attempt (or its wait for a permit) is cut short.</summary>
    Timeout,

    /// <summary>
    /// A shared timeout slot's deadline: the passes that started in it and still run (an attempt, or a wait for a permit)
    /// are cut short as by <see cref="Timeout"/>. It stays armed when they end.
    /// </summary>
    SlotTimeout,

    /// <summary>The bucket slot a waiter reserved: it is served.</summary>
    PermitSlot,

    /// <summary>The concurrency limiter's queue timeout: the waiter gets a failed lease.</summary>
    QueueTimeout,

    /// <summary>The retry's wait for a rejection's retry-after.</summary>
    RetryDelay,
}
