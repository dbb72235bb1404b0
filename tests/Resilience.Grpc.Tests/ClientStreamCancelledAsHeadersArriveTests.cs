using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Resilience.Grpc.Tests.Transparency;

namespace Resilience.Grpc.Tests;

/// <summary>
/// A client stream whose caller cancels it as its response headers arrive: gRPC fails its response with a status of its
/// own making (Internal, "Error starting gRPC call", the cancellation having disposed the response it was about to read)
/// while the call's status is Cancelled. The caller sees what gRPC gives, as without the interceptor; the pipeline sees
/// the caller's cancellation, not a failure of the server.
/// </summary>
public sealed class ClientStreamCancelledAsHeadersArriveTests : IAsyncLifetime
{
    private const int Calls = 20;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private TransparencyGrpcServer? _server;

    public async Task InitializeAsync() => _server = await TransparencyGrpcServer.StartAsync(null);

    public async Task DisposeAsync() => await _server!.DisposeAsync();

    [Fact]
    public async Task The_pipeline_sees_the_callers_cancellation_and_the_caller_sees_what_gRPC_gives()
    {
        var exits = new ConcurrentQueue<ExitOutcome>();
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(new RecordingExits(exits), GrpcOutcomes.IsTransientFailure).Build();

        for (var i = 0; i < Calls; i++)
        {
            var without = await CancelAsHeadersArriveAsync(null);
            var with = await CancelAsHeadersArriveAsync(pipeline);
            Assert.Equal(without, with);
            Assert.Equal(StatusCode.Cancelled, with.Code);
        }

        Assert.Equal(Calls, exits.Count);
        Assert.All(exits, exit => Assert.True(exit.IsCallerCancelled, $"judged {(exit.IsHandled ? "a failure" : "not the caller's")}: {exit.Exception}"));
    }

    /// <summary>Cancels a client stream in the continuation of its response headers: before gRPC reads its response.</summary>
    private async Task<(StatusCode Code, string Detail)> CancelAsHeadersArriveAsync(ResiliencePipeline? pipeline)
    {
        using var channel = GrpcChannel.ForAddress(_server!.Address);
        var invoker = pipeline is null ? channel.CreateCallInvoker() : channel.Intercept(new ResilienceClientInterceptor(pipeline));
        using var caller = new CancellationTokenSource();
        var options = new CallOptions(
            new Metadata { { "behaviour", nameof(ServerBehaviour.SlowMidStream) }, { "id", Guid.NewGuid().ToString("N") } },
            DateTime.UtcNow.Add(Bound),
            caller.Token);
        using var call = invoker.AsyncClientStreamingCall(TransparencyGrpcServer.ClientStream, null, options);
        await call.ResponseHeadersAsync
            .ContinueWith(_ => caller.Cancel(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default)
            .WaitAsync(Bound);

        // Cancelled, or Internal when gRPC read the response its cancellation disposed: whichever, the caller sees gRPC's.
        await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(Bound));
        return (call.GetStatus().StatusCode, call.GetStatus().Detail);
    }
}
