namespace Resilience.Tests.Pipeline;

/// <summary>What a scripted strategy's entry does.</summary>
public enum ModelEnter
{
    Admit,
    AdmitWithState,
    Reject,
    Throw,
    PendingAdmitNow,
    PendingAdmitLater,
    PendingRejectLater,
    PendingFaultNow,
    PendingFaultLater,
    PendingCancelled,

    /// <summary>A pending admission that completes with another pending entry, which the engine refuses.</summary>
    PendingPending,
}
