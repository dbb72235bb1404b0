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

    public enum ClientEnd
    {
        Disposed,
        Cancelled,
        Deadline,
    }

    [Theory]
    [InlineData(ClientEnd.Disposed, false)]
    [InlineData(ClientEnd.Cancelled, false)]
    [InlineData(ClientEnd.Deadline, false)]
    [InlineData(ClientEnd.Disposed, true)]
    [InlineData(ClientEnd.Cancelled, true)]
    [InlineData(ClientEnd.Deadline, true)]
    public async Task A_client_that_cancels_while_a_streaming_handler_reads_is_neither_a_success_nor_a_failure_of_the_server(ClientEnd end, bool duplex)
    {
        // A real deadline: long enough, on a machine with time to spare, for the first message to arrive, after which the
        // deadline ends the read under way. On a starved machine it may pass sooner; the run is then tried again with a
        // longer one.
        for (var deadline = TimeSpan.FromSeconds(3); deadline <= TimeSpan.FromSeconds(12); deadline *= 2)
        {
            if (await RunAsync(deadline))
            {
                return;
            }
        }

        Assert.Fail("The deadline passed before the handler read, even at 12 seconds.");

        async Task<bool> RunAsync(TimeSpan deadline)
        {
            // The handler reads its request stream without a token, as most do: the client's reset fails the read under way
            // with gRPC's IOException, not a cancellation. It is the client going away (or the call's deadline passing), not
            // the server failing.
            var breaker = new CircuitBreaker(new CircuitBreakerOptions { FailureRatio = 0.5, MinimumThroughput = 100, BreakDuration = TimeSpan.FromMinutes(5) });
            var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure).Build();
            var reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var handlerFailure = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var server = await GrpcTestServer.StartAsync(
                (request, _, _) => Task.FromResult(request),
                options =>
                {
                    options.Interceptors.Add<HandlerEnded>(ended);
                    options.Interceptors.Add<ResilienceServerInterceptor>(pipeline);
                },
                handler: async (requests, writer, _) =>
                {
                    try
                    {
                        Assert.True(await requests.MoveNext());
                        var next = requests.MoveNext();
                        reading.SetResult();
                        await next;
                        handlerFailure.SetResult(null);
                    }
                    catch (Exception exception)
                    {
                        handlerFailure.SetResult(exception);
                        throw;
                    }
                });
            using var channel = GrpcChannel.ForAddress(server.Address);
            using var cancellation = new CancellationTokenSource();
            var bound = TimeSpan.FromSeconds(30);
            var options = end == ClientEnd.Deadline
                ? new CallOptions(deadline: DateTime.UtcNow.Add(deadline))
                : new CallOptions(cancellationToken: cancellation.Token);
            var invoker = channel.CreateCallInvoker();
            IDisposable call;
            IClientStreamWriter<string> requests;
            if (duplex)
            {
                var chat = invoker.AsyncDuplexStreamingCall(GrpcTestServer.Scripted, null, options);
                (call, requests) = (chat, chat.RequestStream);
            }
            else
            {
                var upload = invoker.AsyncClientStreamingCall(GrpcTestServer.ScriptedUpload, null, options);
                (call, requests) = (upload, upload.RequestStream);
            }

            try
            {
                await requests.WriteAsync("first").WaitAsync(bound);
            }
            catch (RpcException early) when (end == ClientEnd.Deadline && early.StatusCode == StatusCode.DeadlineExceeded)
            {
                call.Dispose();
                return false;
            }

            if (await Task.WhenAny(reading.Task, handlerFailure.Task).WaitAsync(bound) != reading.Task)
            {
                // The deadline passed before the handler began its second read (a machine too busy for it): no verdict.
                Assert.Equal(ClientEnd.Deadline, end);
                call.Dispose();
                return false;
            }

            if (end == ClientEnd.Disposed)
            {
                call.Dispose();
            }
            else if (end == ClientEnd.Cancelled)
            {
                await cancellation.CancelAsync();
            }

            // A deadline is timed on both sides: the read fails with the client's reset or with the server's own abort.
            var failure = await handlerFailure.Task.WaitAsync(bound);
            Assert.True(failure is IOException || (end == ClientEnd.Deadline && failure is OperationCanceledException), $"The handler's read failed with {failure}.");
            await ended.Task.WaitAsync(bound);
            Assert.Equal((CircuitState.Closed, 0L, 0L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
            call.Dispose();
            return true;
        }
    }

    [Fact]
    public async Task A_streaming_handlers_own_io_failure_while_its_client_waits_is_a_failure_of_the_server()
    {
        // The same exception type as a reset's, but the call is alive: the handler failed, and the breaker counts it.
        var breaker = new CircuitBreaker(new CircuitBreakerOptions { FailureRatio = 0.5, MinimumThroughput = 100, BreakDuration = TimeSpan.FromMinutes(5) });
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure).Build();
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await GrpcTestServer.StartAsync(
            (request, _, _) => Task.FromResult(request),
            options =>
            {
                options.Interceptors.Add<HandlerEnded>(ended);
                options.Interceptors.Add<ResilienceServerInterceptor>(pipeline);
            },
            handler: async (requests, _, _) =>
            {
                Assert.True(await requests.MoveNext());
                throw new IOException("The handler's own storage failed.");
            });
        using var channel = GrpcChannel.ForAddress(server.Address);
        var bound = TimeSpan.FromSeconds(30);
        using var call = channel.CreateCallInvoker().AsyncDuplexStreamingCall(GrpcTestServer.Scripted, null, new CallOptions());

        await call.RequestStream.WriteAsync("first").WaitAsync(bound);
        var failed = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(bound));

        Assert.Equal(StatusCode.Unknown, failed.StatusCode);
        await ended.Task.WaitAsync(bound);
        Assert.Equal((1L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }
}
