using Grpc.Core;

namespace Resilience.Grpc.Tests.Faults;

/// <summary>
/// One unary attempt as the interceptor below the <see cref="ResilienceClientInterceptor"/> saw it end: its response
/// (<see cref="Failure"/> <see langword="null"/>) or its exception, and whether the caller's token was already cancelled
/// then. A stream's one attempt is recorded when it is opened, with neither.
/// </summary>
internal sealed record RecordedAttempt(int Number, RpcException? Failure, bool CallerCancelled)
{
    /// <summary>The status the attempt ended with.</summary>
    public StatusCode Status => Failure?.StatusCode ?? StatusCode.OK;

    /// <summary>The attempt's token was cancelled while the caller's was not (yet): the pipeline's timeout.</summary>
    public bool TimedOut => Status == StatusCode.Cancelled && !CallerCancelled;
}
