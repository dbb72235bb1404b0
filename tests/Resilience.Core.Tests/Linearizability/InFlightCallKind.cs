namespace Resilience.Tests.Linearizability;

/// <summary>What a concurrency limiter's operation in a checked history is.</summary>
internal enum InFlightCallKind
{
    /// <summary><c>AttemptAcquire(Permits)</c> for the lease numbered <c>Lease</c>: granted or not.</summary>
    Acquire,

    /// <summary>Disposing the lease numbered <c>Lease</c>, of <c>Permits</c> (a second time releases nothing).</summary>
    Release,

    /// <summary><c>GetStatistics()</c>: the available permits.</summary>
    Statistics,

    /// <summary><c>UpdateOptions</c> to a limit of <c>Permits</c>.</summary>
    Update,

    /// <summary>
    /// <c>AcquireAsync(Permits)</c> for the lease numbered <c>Lease</c>, from its call to its return: granted, refused
    /// (the queue full), or queued.
    /// </summary>
    AcquireAsync,

    /// <summary>
    /// The task of the queued request for the lease numbered <c>Lease</c>, from the call to the moment it was seen
    /// complete: admitted, failed or cancelled.
    /// </summary>
    Completion,

    /// <summary>Cancelling the token of the request for the lease numbered <c>Lease</c>.</summary>
    Cancel,

    /// <summary>Disposing the limiter: its waiters fail, and later acquisitions throw.</summary>
    Dispose,
}
