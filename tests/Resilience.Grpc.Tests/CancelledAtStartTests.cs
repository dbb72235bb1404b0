using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Grpc.Tests;

/// <summary>
/// A client call whose token is cancelled before it starts ends with <see cref="StatusCode.Cancelled"/>, as gRPC ends it
/// without the interceptor: whether a limiter would queue it or has a permit free, no permit stays taken and the breaker
/// counts nothing.
/// </summary>
public sealed class CancelledAtStartTests : IDisposable
{
    private readonly CancellationTokenSource _caller = new();
    private readonly InFlightLimiter _limiter = new(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
    private readonly CircuitBreaker _breaker = new(new CircuitBreakerOptions { MinimumThroughput = 2, BreakDuration = TimeSpan.FromMinutes(1) });
    private readonly ResilienceClientInterceptor _client;

    public CancelledAtStartTests()
    {
        _caller.Cancel();
        _client = new ResilienceClientInterceptor(new ResiliencePipelineBuilder()
            .AddRetry(new RetryOptions { Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false }, GrpcOutcomes.IsTransientFailure)
            .AddCircuitBreaker(_breaker, GrpcOutcomes.IsTransientFailure)
            .AddRateLimiter(_limiter)
            .AddTimeout(TimeSpan.FromMinutes(1))
            .Build());
    }

    public void Dispose()
    {
        _limiter.Dispose();
        _caller.Dispose();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Unary_calls_end_cancelled_holding_nothing(bool permitTaken)
    {
        using var held = permitTaken ? _limiter.AttemptAcquire(1) : null;

        using var call = _client.AsyncUnaryCall("hi", Context(GrpcTestServer.Unary), static (request, context) => AsGrpcAnswers(request, context.Options.CancellationToken));
        var blocking = Record.Exception(() => _client.BlockingUnaryCall("hi", Context(GrpcTestServer.Unary), static (request, context) =>
            context.Options.CancellationToken.IsCancellationRequested ? throw Cancelled() : request));

        Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.Cancelled, call.GetStatus().StatusCode);
        Assert.Equal(StatusCode.Cancelled, Assert.IsType<RpcException>(blocking).StatusCode);
        AssertNothingHeldOrCounted(permitTaken);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Streaming_calls_end_cancelled_holding_nothing(bool permitTaken)
    {
        using var held = permitTaken ? _limiter.AttemptAcquire(1) : null;

        using var call = _client.AsyncServerStreamingCall("hi", Context(GrpcTestServer.Streaming), static (_, context) =>
            new AsyncServerStreamingCall<string>(new CancelledReader(context.Options.CancellationToken), Task.FromResult(new Metadata()), static () => new Status(StatusCode.Cancelled, "cancelled"), static () => [], static () => { }));

        Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None))).StatusCode);
        call.Dispose();
        AssertNothingHeldOrCounted(permitTaken);
    }

    [Fact]
    public async Task Calls_with_a_cancelled_token_reach_no_server_and_take_no_permit()
    {
        await using var server = await GrpcTestServer.StartAsync((request, _, _) => Task.FromResult($"echo {request}"));
        var time = new FakeTimeProvider();
        using var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false }, GrpcOutcomes.IsTransientFailure)
            .AddRateLimiter(bucket)
            .Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = channel.Intercept(new ResilienceClientInterceptor(pipeline));
        var cancelled = new CallOptions(cancellationToken: _caller.Token);

        using (var call = invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, cancelled, "hi"))
        {
            Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync)).StatusCode);
        }

        Assert.Equal(StatusCode.Cancelled, Assert.Throws<RpcException>(() => invoker.BlockingUnaryCall(GrpcTestServer.Unary, null, cancelled, "hi")).StatusCode);
        using (var stream = invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, cancelled, "hi"))
        {
            Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => stream.ResponseStream.MoveNext(CancellationToken.None))).StatusCode);
        }

        // Nothing reached the server and the bucket's one permit is still there: the next call, not cancelled, takes it.
        Assert.Equal((0, 0, 1L), (server.Calls, server.StreamCalls, bucket.GetStatistics()!.CurrentAvailablePermits));
        using var next = invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, new CallOptions(), "hi");
        Assert.Equal(("echo hi", 1), (await next.ResponseAsync, server.Calls));
    }

    [Fact]
    public async Task A_server_call_whose_client_already_cancelled_runs_no_handler_and_takes_no_permit()
    {
        var time = new FakeTimeProvider();
        using var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, TimeProvider = time });
        var interceptor = new ResilienceServerInterceptor(new ResiliencePipelineBuilder { TimeProvider = time }.AddRateLimiter(bucket).Build());
        var context = new FakeServerCallContext(GrpcTestServer.Unary.FullName, _caller.Token);
        var runs = 0;

        var failure = await Record.ExceptionAsync(() => interceptor.UnaryServerHandler("hi", context, (request, _) => { runs++; return Task.FromResult(request); }));

        Assert.Equal(_caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(failure).CancellationToken);
        Assert.Equal((0, 1L), (runs, bucket.GetStatistics()!.CurrentAvailablePermits));
    }

    private void AssertNothingHeldOrCounted(bool permitTaken)
    {
        var statistics = _limiter.GetStatistics()!;
        Assert.Equal((permitTaken ? 0L : 1L, 0L), (statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount));
        Assert.Equal((CircuitState.Closed, 0L, 0L), (_breaker.State, _breaker.GetSnapshot().Calls, _breaker.GetSnapshot().Failures));
    }

    private ClientInterceptorContext<string, string> Context(Method<string, string> method) =>
        new(method, null, new CallOptions(cancellationToken: _caller.Token));

    private static RpcException Cancelled() => new(new Status(StatusCode.Cancelled, "Call canceled by the client."));

    /// <summary>As gRPC answers a call opened with a token already cancelled.</summary>
    private static AsyncUnaryCall<string> AsGrpcAnswers(string response, CancellationToken cancellationToken) =>
        new(
            cancellationToken.IsCancellationRequested ? Task.FromException<string>(Cancelled()) : Task.FromResult(response),
            Task.FromResult(new Metadata()),
            () => cancellationToken.IsCancellationRequested ? new Status(StatusCode.Cancelled, "cancelled") : Status.DefaultSuccess,
            static () => [],
            static () => { });

    private sealed class CancelledReader(CancellationToken callToken) : IAsyncStreamReader<string>
    {
        public string Current => throw new InvalidOperationException();

        public Task<bool> MoveNext(CancellationToken cancellationToken) =>
            callToken.IsCancellationRequested ? Task.FromException<bool>(Cancelled()) : Task.FromResult(false);
    }
}
