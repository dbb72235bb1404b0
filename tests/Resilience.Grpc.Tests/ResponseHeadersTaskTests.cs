using System.Runtime.CompilerServices;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Resilience.Grpc.Tests;

/// <summary>
/// A call's response headers through the interceptor are one task, as gRPC's own call caches its: reading them twice
/// gives the same task, and a failed read the caller drops leaves no unobserved exception (gRPC observes its own).
/// </summary>
public sealed class ResponseHeadersTaskTests
{
    [Fact]
    public async Task A_unary_calls_headers_are_one_task_and_a_failed_one_the_caller_drops_leaves_no_unobserved_exception()
    {
        var client = new ResilienceClientInterceptor(new ResiliencePipelineBuilder().Build());
        var failure = new RpcException(new Status(StatusCode.Unavailable, "no headers came"));
        var grpcHeaders = Task.FromException<Metadata>(failure);
        _ = grpcHeaders.Exception;

        var unobserved = await UnobservedExceptions.LeftByAsync(inner => ReferenceEquals(inner, failure), () => ReadUnaryHeadersAndDropThemAsync(client, grpcHeaders));

        Assert.Empty(unobserved);
    }

    [Fact]
    public async Task A_streams_headers_are_one_task_and_a_failed_one_the_caller_drops_leaves_no_unobserved_exception()
    {
        var client = new ResilienceClientInterceptor(new ResiliencePipelineBuilder().Build());
        var failure = new RpcException(new Status(StatusCode.Unavailable, "no headers came"));

        // gRPC's own headers task, failed and observed as gRPC observes it.
        var grpcHeaders = Task.FromException<Metadata>(failure);
        _ = grpcHeaders.Exception;

        var unobserved = await UnobservedExceptions.LeftByAsync(inner => ReferenceEquals(inner, failure), () => ReadHeadersAndDropThemAsync(client, grpcHeaders));

        Assert.Empty(unobserved);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task ReadUnaryHeadersAndDropThemAsync(ResilienceClientInterceptor client, Task<Metadata> grpcHeaders)
    {
        using var call = client.AsyncUnaryCall(
            "hi",
            new ClientInterceptorContext<string, string>(GrpcTestServer.Unary, null, new CallOptions()),
            (request, _) => new AsyncUnaryCall<string>(Task.FromResult(request), grpcHeaders, static () => Status.DefaultSuccess, static () => [], static () => { }));
        var first = call.ResponseHeadersAsync;
        var second = call.ResponseHeadersAsync;
        Assert.Same(first, second);
        Assert.Equal("hi", await call.ResponseAsync);

        // Completed, not awaited: the caller drops them.
        await Task.WhenAny(first).WaitAsync(TimeSpan.FromSeconds(10));
        await Task.WhenAny(second).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(first.IsFaulted && second.IsFaulted);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task ReadHeadersAndDropThemAsync(ResilienceClientInterceptor client, Task<Metadata> grpcHeaders)
    {
        using var call = client.AsyncServerStreamingCall(
            "hi",
            new ClientInterceptorContext<string, string>(GrpcTestServer.Streaming, null, new CallOptions()),
            (_, _) => new AsyncServerStreamingCall<string>(new EmptyReader(), grpcHeaders, static () => Status.DefaultSuccess, static () => [], static () => { }));
        var first = call.ResponseHeadersAsync;
        var second = call.ResponseHeadersAsync;
        Assert.Same(first, second);
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));

        // Completed, not awaited: the caller drops them.
        await Task.WhenAny(first).WaitAsync(TimeSpan.FromSeconds(10));
        await Task.WhenAny(second).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(first.IsFaulted && second.IsFaulted);
    }

    private sealed class EmptyReader : IAsyncStreamReader<string>
    {
        public string Current => throw new InvalidOperationException();

        public Task<bool> MoveNext(CancellationToken cancellationToken) => Task.FromResult(false);
    }
}
