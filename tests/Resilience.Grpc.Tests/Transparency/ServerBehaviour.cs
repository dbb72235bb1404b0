namespace Resilience.Grpc.Tests.Transparency;

/// <summary>How the transparency server's handler behaves for a call.</summary>
public enum ServerBehaviour
{
    /// <summary>Response headers, the messages, a trailer, OK.</summary>
    Ok,

    /// <summary>Headers, a message (streams), then an <c>RpcException</c> with InvalidArgument and trailers of its own.</summary>
    Failed,

    /// <summary>Headers, a message (streams), then NotFound set on the context's status, with the context's trailers.</summary>
    ContextStatus,

    /// <summary>Unavailable at once, with a trailer (trailers only).</summary>
    Unavailable,

    /// <summary>An exception of the handler's own: Unknown.</summary>
    Thrown,

    /// <summary>The stream reset without a status.</summary>
    Reset,

    /// <summary>No headers until the call ends (a deadline, a cancellation).</summary>
    Slow,

    /// <summary>Headers and a first message (streams), then nothing until the call ends.</summary>
    SlowMidStream,
}
