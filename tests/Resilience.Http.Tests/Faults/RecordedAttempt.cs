namespace Resilience.Http.Tests.Faults;

/// <summary>
/// One attempt as the handler inside the <see cref="ResilienceHandler"/> saw it end: a response's status, or the
/// transport's failure, and whether the caller's token was already cancelled when it failed.
/// </summary>
internal sealed record RecordedAttempt(int Number, int? Status, Exception? Failure, bool CallerCancelled)
{
    /// <summary>The server reset the request.</summary>
    public bool IsReset => Failure is HttpRequestException;

    /// <summary>The attempt was cancelled: by the pipeline's timeout, or with its caller's token (<see cref="CallerCancelled"/>).</summary>
    public bool IsCancelled => Failure is OperationCanceledException;
}
