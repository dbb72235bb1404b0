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
}
