using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Resilience.Grpc.Tests.Transparency;

namespace Resilience.Grpc.Tests;

/// <summary>
/// A stream its caller disposes while a read (or a client stream's response) waits ends as gRPC ends a disposed call,
/// <see cref="StatusCode.Cancelled"/> with "gRPC call disposed.", and the pipeline sees the caller's cancellation: the
/// read that fails as the call is disposed is the caller's end too, though the call's token is cancelled only after.
/// </summary>
public sealed class StreamDisposedMidStreamTests : IAsyncLifetime
{
    private const int Calls = 10;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private TransparencyGrpcServer? _server;

    public enum StreamKind
    {
        Server,
        Client,
        Duplex,
    }

    public async Task InitializeAsync() => _server = await TransparencyGrpcServer.StartAsync(null);

    public async Task DisposeAsync() => await _server!.DisposeAsync();

    [Theory]
    [InlineData(StreamKind.Server)]
    [InlineData(StreamKind.Client)]
    [InlineData(StreamKind.Duplex)]
    public async Task A_stream_disposed_while_a_read_waits_ends_as_gRPC_ends_a_disposed_call_and_is_the_callers_cancellation(StreamKind kind)
    {
        var exits = new ConcurrentQueue<ExitOutcome>();
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(new RecordingExits(exits), GrpcOutcomes.IsTransientFailure).Build();
        using var channel = GrpcChannel.ForAddress(_server!.Address);
        var invoker = channel.Intercept(new ResilienceClientInterceptor(pipeline));

        for (var i = 0; i < Calls; i++)
        {
            var id = Guid.NewGuid().ToString("N");
            var options = new CallOptions(new Metadata { { "behaviour", nameof(ServerBehaviour.SlowMidStream) }, { "id", id } }, DateTime.UtcNow.Add(Bound));
            var arrived = TransparencyGrpcServer.ArrivalOf(id).Task;
            var (waiting, headers, status, dispose) = await OpenAsync(invoker, kind, options);
            await arrived.WaitAsync(Bound);
            await headers.WaitAsync(Bound);
            dispose();

            var ended = await Assert.ThrowsAsync<RpcException>(() => waiting.WaitAsync(Bound));
            if (kind != StreamKind.Client)
            {
                // A client stream's response may fail with gRPC's own Internal instead, when the disposal came as gRPC was
                // about to read the response (with or without the interceptor); its status is the disposal all the same.
                Assert.Equal((StatusCode.Cancelled, "gRPC call disposed."), (ended.StatusCode, ended.Status.Detail));
            }

            Assert.Equal((StatusCode.Cancelled, "gRPC call disposed."), (status().StatusCode, status().Detail));
        }

        Assert.Equal(Calls, exits.Count);
        Assert.All(exits, exit => Assert.True(exit.IsCallerCancelled, $"judged {(exit.IsHandled ? "a failure" : "not the caller's")}: {exit.Exception}"));
    }

    /// <summary>
    /// Opens a stream whose server has sent its headers (and, to a server stream, a first message, read here) and then
    /// waits; returns a read (or the response) that waits on it, already started.
    /// </summary>
    private static async Task<(Task Waiting, Task<Metadata> Headers, Func<Status> Status, Action Dispose)> OpenAsync(CallInvoker invoker, StreamKind kind, CallOptions options)
    {
        switch (kind)
        {
            case StreamKind.Server:
            {
                var call = invoker.AsyncServerStreamingCall(TransparencyGrpcServer.ServerStream, null, options, "request");
                Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
                return (call.ResponseStream.MoveNext(CancellationToken.None), call.ResponseHeadersAsync, call.GetStatus, call.Dispose);
            }

            case StreamKind.Client:
            {
                // The server sends its headers and waits for the requests, which never end.
                var call = invoker.AsyncClientStreamingCall(TransparencyGrpcServer.ClientStream, null, options);
                return (call.ResponseAsync, call.ResponseHeadersAsync, call.GetStatus, call.Dispose);
            }

            default:
            {
                // The server echoes requests until they end, which they never do: no message comes.
                var call = invoker.AsyncDuplexStreamingCall(TransparencyGrpcServer.Duplex, null, options);
                return (call.ResponseStream.MoveNext(CancellationToken.None), call.ResponseHeadersAsync, call.GetStatus, call.Dispose);
            }
        }
    }
}
