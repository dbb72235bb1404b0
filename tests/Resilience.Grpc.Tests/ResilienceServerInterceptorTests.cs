using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;

namespace Resilience.Grpc.Tests;

public sealed class ResilienceServerInterceptorTests
{
    private static AsyncUnaryCall<string> Call(GrpcChannel channel, string request = "hello") =>
        channel.CreateCallInvoker().AsyncUnaryCall(GrpcTestServer.Unary, null, new CallOptions(), request);

    [Fact]
    public async Task A_concurrency_limit_sheds_calls_beyond_it_with_resource_exhausted_before_the_handler_runs()
    {
        var gate = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        await using var server = await GrpcTestServer.StartAsync(
            (request, _, n) =>
            {
                if (n == 1)
                {
                    entered.SetResult();
                    return gate.Task;
                }

                return Task.FromResult(request);
            },
            options => options.Interceptors.Add<ResilienceServerInterceptor>(pipeline));
        using var channel = GrpcChannel.ForAddress(server.Address);

        using var holding = Call(channel, "first");
        await entered.Task;
        var shed = await Assert.ThrowsAsync<RpcException>(() => Call(channel, "second").ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, shed.StatusCode);
        Assert.Equal(1, server.Calls);

        gate.SetResult("first done");
        Assert.Equal("first done", await holding.ResponseAsync);
        Assert.Equal("third", await Call(channel, "third").ResponseAsync);
        Assert.Equal(2, server.Calls);
    }

    [Fact]
    public async Task A_rate_limit_refusal_carries_the_retry_pushback_trailer()
    {
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1.0 / 60, Burst = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(bucket).Build();
        await using var server = await GrpcTestServer.StartAsync(
            (request, _, _) => Task.FromResult(request),
            options => options.Interceptors.Add<ResilienceServerInterceptor>(pipeline));
        using var channel = GrpcChannel.ForAddress(server.Address);

        Assert.Equal("first", await Call(channel, "first").ResponseAsync);
        var refused = await Assert.ThrowsAsync<RpcException>(() => Call(channel, "second").ResponseAsync);

        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        var pushback = long.Parse(refused.Trailers.GetValue(GrpcOutcomes.RetryPushbackTrailer)!, CultureInfo.InvariantCulture);
        Assert.InRange(pushback, 1, 60_000);
        Assert.Equal(1, server.Calls);
    }

    [Fact]
    public async Task Handler_failures_pass_through_with_their_own_status()
    {
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 4 })).Build();
        await using var server = await GrpcTestServer.StartAsync(
            (_, _, _) => throw GrpcTestServer.Status(StatusCode.NotFound),
            options => options.Interceptors.Add<ResilienceServerInterceptor>(pipeline));
        using var channel = GrpcChannel.ForAddress(server.Address);

        var failed = await Assert.ThrowsAsync<RpcException>(() => Call(channel).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, failed.StatusCode);
        Assert.Equal(4, ((InFlightLimiter)((RateLimiterStrategy)pipeline.Strategies[0]).Limiter).GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task A_streaming_handler_runs_once_and_holds_its_permit_even_when_the_pipeline_retries()
    {
        // A retry would run the handler again on a request stream already read and a response stream already written.
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.Zero, UseJitter = false }, GrpcOutcomes.IsTransientFailure)
            .AddRateLimiter(limiter)
            .Build();
        await using var server = await GrpcTestServer.StartAsync(
            (request, _, _) => Task.FromResult(request),
            options => options.Interceptors.Add<ResilienceServerInterceptor>(pipeline),
            streamEnd: (_, _) => Task.FromException(GrpcTestServer.Status(StatusCode.Unavailable)));
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = channel.CreateCallInvoker();
        var bound = TimeSpan.FromSeconds(30);

        using var stream = invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, new CallOptions(), "once");
        var items = new List<string>();
        var failed = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await stream.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(bound))
            {
                items.Add(stream.ResponseStream.Current);
            }
        });
        Assert.Equal(StatusCode.Unavailable, failed.StatusCode);
        Assert.Equal(["once 0"], items);
        Assert.Equal(1, server.StreamCalls);

        using var collecting = invoker.AsyncClientStreamingCall(GrpcTestServer.ClientStreaming, null, new CallOptions());
        await collecting.RequestStream.WriteAsync("a").WaitAsync(bound);
        await collecting.RequestStream.CompleteAsync().WaitAsync(bound);
        Assert.Equal(StatusCode.Unavailable, (await Assert.ThrowsAsync<RpcException>(() => collecting.ResponseAsync.WaitAsync(bound))).StatusCode);
        Assert.Equal(2, server.StreamCalls);
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
    }
}
