namespace Resilience.Grpc;

/// <summary>
/// What a call's status or trailers throw while the call has not completed: the exceptions gRPC's own calls throw
/// (Grpc.Net.Client's messages), so a caller sees the same through the interceptor as without it.
/// </summary>
internal static class CallNotCompleted
{
    public static InvalidOperationException StatusUnknown() => new("Unable to get the status because the call is not complete.");

    public static InvalidOperationException TrailersUnknown() => new("Can't get the call trailers because the call has not completed successfully.");
}
