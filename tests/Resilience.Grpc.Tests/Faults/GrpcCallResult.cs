using Grpc.Core;

namespace Resilience.Grpc.Tests.Faults;

/// <summary>
/// What a caller of a soak run got: the response (a stream's messages, joined), or the status its ending read or
/// response failed with; the call's <c>GetStatus()</c> afterwards; and, for a stream disposed early, the status its read
/// (a client stream: its write) failed with before it was disposed, if it did.
/// </summary>
internal sealed record GrpcCallResult(string? Response, RpcException? Failure, Status? CallStatus, RpcException? EarlyFailure = null);
