namespace Resilience.Tests.Pipeline;

/// <summary>
/// What one attempt of the callback does. The synchronous forms run the asynchronous kinds as what they end with (a
/// result, or a throw for a task that faults).
/// </summary>
public enum ModelCall
{
    SyncResult,
    SyncThrow,
    AsyncCompleted,
    AsyncLaterOnPool,
    AsyncLaterBySource,
    AsyncFaultLater,

    /// <summary>Cancels the caller's token and ends with an <see cref="OperationCanceledException"/> (later, for the asynchronous forms).</summary>
    CancelCaller,

    /// <summary>Ends with an <see cref="OperationCanceledException"/> if the token it received is cancelled, else a result.</summary>
    ObserveToken,

    /// <summary>Ends with an <see cref="OperationCanceledException"/> of its own, the caller's token untouched: a failure like any other.</summary>
    ForeignCancel,
}
