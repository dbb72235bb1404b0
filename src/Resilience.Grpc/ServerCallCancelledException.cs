namespace Resilience.Grpc;

/// <summary>
/// A streaming handler's failure after its call was cancelled (the client cancelled or went away, or the call's deadline
/// passed), shown to the server's pipeline as the caller's cancellation: the failure is the call ending, not the
/// handler failing. The interceptor throws the handler's own exception afterwards, so gRPC ends the call as it would have.
/// </summary>
internal sealed class ServerCallCancelledException(Exception failure, CancellationToken cancellationToken)
    : OperationCanceledException(failure.Message, failure, cancellationToken);
