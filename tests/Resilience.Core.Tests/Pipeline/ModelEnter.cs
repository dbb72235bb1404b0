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
}
