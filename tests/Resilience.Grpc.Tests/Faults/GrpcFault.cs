namespace Resilience.Grpc.Tests.Faults;

/// <summary>What the soak server does with one attempt of a call (a streaming call's one attempt).</summary>
internal enum GrpcFault
{
    /// <summary>Answers (a stream: its messages, then OK).</summary>
    Ok,

    /// <summary><c>InvalidArgument</c>: about the request, neither a success nor a failure, not retried.</summary>
    InvalidArgument,

    /// <summary><c>Unavailable</c>: retried at once.</summary>
    Unavailable,

    /// <summary><c>ResourceExhausted</c> with a pushback of 0 ms: retried at once.</summary>
    ResourceExhausted,

    /// <summary><c>ResourceExhausted</c> with a pushback of an hour, past the retry's cap: the retries end.</summary>
    ResourceExhaustedForAnHour,

    /// <summary><c>Internal</c>: retried.</summary>
    Internal,

    /// <summary>The server aborts the call's HTTP/2 stream: retried.</summary>
    Reset,

    /// <summary>The server answers only once the client gives up: the pipeline's timeout ends the attempt, retried.</summary>
    Slow,

    /// <summary>The server cancels the caller's token and holds the call until it ends: never retried.</summary>
    Hang,
}
