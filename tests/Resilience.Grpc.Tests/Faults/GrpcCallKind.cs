namespace Resilience.Grpc.Tests.Faults;

/// <summary>The kind of a soak call, and how its caller ends it.</summary>
internal enum GrpcCallKind
{
    /// <summary>A unary call, retried by the pipeline.</summary>
    Unary,

    /// <summary>A blocking unary call, retried by the pipeline.</summary>
    BlockingUnary,

    /// <summary>A server stream read to its end.</summary>
    ServerStream,

    /// <summary>A server stream whose first message is read (tried), then disposed.</summary>
    ServerStreamDisposed,

    /// <summary>A client stream whose requests are written and completed, then its response awaited.</summary>
    ClientStream,

    /// <summary>A client stream with one request written (tried), then disposed.</summary>
    ClientStreamDisposed,

    /// <summary>A duplex stream whose requests are written and completed, then read to its end.</summary>
    Duplex,

    /// <summary>A duplex stream with one request written and one message read (each tried), then disposed.</summary>
    DuplexDisposed,
}
