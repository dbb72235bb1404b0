namespace Resilience.Tests.Composite;

/// <summary>Where a call of <see cref="OverlappingCallsModel"/> rests between the script's steps.</summary>
internal enum OverlappingStage
{
    /// <summary>Waiting in the concurrency limiter's queue for a permit another call gives back.</summary>
    Queued,

    /// <summary>In an attempt: the callback's task waits for the script to complete it (or the timeout, or the caller, to cancel it).</summary>
    Attempt,

    /// <summary>Waiting for the bucket slot it reserved.</summary>
    WaitingForPermit,

    /// <summary>Waiting out a rejection's retry-after before the next attempt.</summary>
    RetryDelay,

    /// <summary>Ended: the caller has its outcome.</summary>
    Done,
}
