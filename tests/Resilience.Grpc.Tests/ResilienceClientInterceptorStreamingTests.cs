using System.Globalization;
using System.Runtime.CompilerServices;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Grpc.Tests;

/// <summary>
/// Streaming calls through the client interceptor: admitted by the pipeline's breaker and limiters, holding a permit for
/// the stream's life, judged once by their final status; never retried, never cut by a per-attempt timeout.
/// </summary>
public sealed class ResilienceClientInterceptorStreamingTests
{
    // Every wait is bounded: a broken interceptor fails the test instead of hanging it.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    public enum StreamEnd
    {
        Completed,
        Failed,
        Disposed,
    }

    public enum StreamKind
    {
        Server,
        Client,
        Duplex,
    }

    private static Resilience.CircuitBreaker Breaker(int minimumThroughput) =>
        new(new CircuitBreakerOptions { FailureRatio = 0.5, MinimumThroughput = minimumThroughput, BreakDuration = TimeSpan.FromMinutes(5) });

    private static CallInvoker Client(GrpcChannel channel, ResiliencePipeline pipeline) => channel.Intercept(new ResilienceClientInterceptor(pipeline));

    private static AsyncServerStreamingCall<string> ServerStream(CallInvoker invoker, string request = "item", CancellationToken cancellationToken = default) =>
        invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, new CallOptions(cancellationToken: cancellationToken), request);

    private static async Task<List<string>> ReadAllAsync(IAsyncStreamReader<string> stream)
    {
        var items = new List<string>();
        while (await stream.MoveNext(CancellationToken.None).WaitAsync(Bound))
        {
            items.Add(stream.Current);
        }

        return items;
    }

    private static async Task<string> FirstAsync(IAsyncStreamReader<string> stream)
    {
        Assert.True(await stream.MoveNext(CancellationToken.None).WaitAsync(Bound));
        return stream.Current;
    }

    private static int AvailablePermits(InFlightLimiter limiter) => (int)limiter.GetStatistics()!.CurrentAvailablePermits;

    /// <summary>Waits, bounded, until the limiter has <paramref name="permits"/> free (a disposal releases on another thread).</summary>
    private static async Task WaitForPermitsAsync(InFlightLimiter limiter, int permits)
    {
        for (var i = 0; i < 3000 && AvailablePermits(limiter) != permits; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(permits, AvailablePermits(limiter));
    }

    [Fact]
    public async Task An_open_breaker_refuses_every_kind_of_stream_with_unavailable_and_its_pushback_without_reaching_the_server()
    {
        await using var server = await GrpcTestServer.StartAsync((_, _, _) => throw GrpcTestServer.Status(StatusCode.Unavailable));
        var breaker = Breaker(minimumThroughput: 1);
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure).Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = Client(channel, pipeline);
        await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, new CallOptions(), "fail").ResponseAsync);
        Assert.Equal(CircuitState.Open, breaker.State);
        var before = breaker.GetSnapshot();

        static void AssertRefused(RpcException refused)
        {
            Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
            Assert.IsType<BrokenCircuitException>(refused.Status.DebugException);
            Assert.True(long.Parse(refused.Trailers.GetValue(GrpcOutcomes.RetryPushbackTrailer)!, CultureInfo.InvariantCulture) > 0);
        }

        using var serverStream = ServerStream(invoker);
        AssertRefused(await Assert.ThrowsAsync<RpcException>(() => serverStream.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound)));
        Assert.Equal(StatusCode.Unavailable, serverStream.GetStatus().StatusCode);
        Assert.NotNull(serverStream.GetTrailers().GetValue(GrpcOutcomes.RetryPushbackTrailer));

        using var clientStream = invoker.AsyncClientStreamingCall(GrpcTestServer.ClientStreaming, null, new CallOptions());
        AssertRefused(await Assert.ThrowsAsync<RpcException>(() => clientStream.RequestStream.WriteAsync("a").WaitAsync(Bound)));
        AssertRefused(await Assert.ThrowsAsync<RpcException>(() => clientStream.ResponseAsync.WaitAsync(Bound)));
        Assert.Equal(StatusCode.Unavailable, clientStream.GetStatus().StatusCode);

        using var duplex = invoker.AsyncDuplexStreamingCall(GrpcTestServer.Duplex, null, new CallOptions());
        AssertRefused(await Assert.ThrowsAsync<RpcException>(() => duplex.RequestStream.WriteAsync("a").WaitAsync(Bound)));
        AssertRefused(await Assert.ThrowsAsync<RpcException>(() => duplex.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound)));
        Assert.Empty(await duplex.ResponseHeadersAsync.WaitAsync(Bound));

        Assert.Equal(0, server.StreamCalls);

        // A refusal is not an outcome of the dependency: the breaker records nothing for it.
        Assert.Equal(before, breaker.GetSnapshot());
    }

    [Theory]
    [InlineData(StreamEnd.Completed)]
    [InlineData(StreamEnd.Failed)]
    [InlineData(StreamEnd.Disposed)]
    public async Task A_concurrency_limit_of_one_holds_while_a_server_stream_is_open_and_frees_once_when_it_ends(StreamEnd end)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await GrpcTestServer.StartAsync(
            (request, _, _) => Task.FromResult(request),
            streamEnd: async (context, n) =>
            {
                if (n == 1)
                {
                    // The first stream stays open until the test ends it (or the client cancels it).
                    await release.Task.WaitAsync(context.CancellationToken);
                    if (end == StreamEnd.Failed)
                    {
                        throw GrpcTestServer.Status(StatusCode.Unavailable);
                    }
                }
            });
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = Client(channel, pipeline);

        var open = ServerStream(invoker, "open");
        Assert.Equal("open 0", await FirstAsync(open.ResponseStream));
        Assert.Equal(0, AvailablePermits(limiter));

        // While it is open, every other call is refused before it leaves the client, streams and unary calls alike.
        using var shed = ServerStream(invoker, "shed");
        var refused = await Assert.ThrowsAsync<RpcException>(() => shed.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.IsType<RateLimiterRejectedException>(refused.Status.DebugException);
        var unary = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, new CallOptions(), "shed").ResponseAsync.WaitAsync(Bound));
        Assert.Equal(StatusCode.ResourceExhausted, unary.StatusCode);
        Assert.Equal((1, 0), (server.StreamCalls, server.Calls));

        switch (end)
        {
            case StreamEnd.Completed:
                release.SetResult();
                Assert.Equal(["open 1", "open 2"], await ReadAllAsync(open.ResponseStream));
                Assert.Equal(StatusCode.OK, open.GetStatus().StatusCode);
                break;

            case StreamEnd.Failed:
                release.SetResult();
                var failed = await Assert.ThrowsAsync<RpcException>(() => open.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
                Assert.Equal(StatusCode.Unavailable, failed.StatusCode);
                break;

            case StreamEnd.Disposed:
                // Mid-stream: the caller stops reading and disposes the call.
                open.Dispose();
                break;
        }

        // The end of the stream freed the permit, once: a second release would show two free permits of one.
        await WaitForPermitsAsync(limiter, 1);
        open.Dispose();
        using var next = ServerStream(invoker, "next");
        Assert.Equal(["next 0", "next 1", "next 2"], await ReadAllAsync(next.ResponseStream));
        Assert.Equal(2, server.StreamCalls);
        Assert.Equal(1, AvailablePermits(limiter));
    }

    [Fact]
    public async Task A_stream_ending_unavailable_is_one_failure_one_ending_ok_a_success_and_a_caller_cancelled_one_neither()
    {
        var time = new FakeTimeProvider();
        var cancelledArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await GrpcTestServer.StartAsync(
            (request, _, _) => Task.FromResult(request),
            streamEnd: async (context, n) =>
            {
                switch (n)
                {
                    case 1 or 4:
                        throw GrpcTestServer.Status(StatusCode.Unavailable);
                    case 3:
                        cancelledArrived.SetResult();
                        await Task.Delay(Timeout.InfiniteTimeSpan, context.CancellationToken);
                        break;
                }
            });
        var breaker = Breaker(minimumThroughput: 100);

        // Retries and a timeout around the breaker: they stand aside for streams (one attempt each, never cut).
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.Zero, UseJitter = false }, GrpcOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure)
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time })
            .Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = Client(channel, pipeline);
        (long Calls, long Failures) Recorded() => (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures);

        // 1: a server stream that fails with Unavailable after its first message, not retried.
        using (var failing = ServerStream(invoker, "fail"))
        {
            Assert.Equal("fail 0", await FirstAsync(failing.ResponseStream));
            var failed = await Assert.ThrowsAsync<RpcException>(() => failing.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
            Assert.Equal(StatusCode.Unavailable, failed.StatusCode);
        }

        Assert.Equal((1L, 1L), Recorded());
        Assert.Equal(1, server.StreamCalls);

        // 2: a server stream that outlives the pipeline's timeout and ends with OK.
        using (var ok = ServerStream(invoker, "ok"))
        {
            Assert.Equal("ok 0", await FirstAsync(ok.ResponseStream));
            time.Advance(TimeSpan.FromMinutes(1));
            Assert.Equal(["ok 1", "ok 2"], await ReadAllAsync(ok.ResponseStream));
        }

        Assert.Equal((2L, 1L), Recorded());

        // 3: a server stream its caller cancels mid-stream.
        using (var cancellation = new CancellationTokenSource())
        using (var cancelled = ServerStream(invoker, "cancel", cancellation.Token))
        {
            Assert.Equal("cancel 0", await FirstAsync(cancelled.ResponseStream));
            await cancelledArrived.Task.WaitAsync(Bound);
            await cancellation.CancelAsync();
            var ended = await Assert.ThrowsAsync<RpcException>(() => cancelled.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
            Assert.Equal(StatusCode.Cancelled, ended.StatusCode);
        }

        Assert.Equal((2L, 1L), Recorded());

        // 4: a client stream whose response is Unavailable: a failure.
        using (var collecting = invoker.AsyncClientStreamingCall(GrpcTestServer.ClientStreaming, null, new CallOptions()))
        {
            await collecting.RequestStream.WriteAsync("a").WaitAsync(Bound);
            await collecting.RequestStream.CompleteAsync().WaitAsync(Bound);
            var failed = await Assert.ThrowsAsync<RpcException>(() => collecting.ResponseAsync.WaitAsync(Bound));
            Assert.Equal(StatusCode.Unavailable, failed.StatusCode);
        }

        Assert.Equal((3L, 2L), Recorded());

        // 5 and 6: a client stream and a duplex stream that end with OK: successes.
        using (var collecting = invoker.AsyncClientStreamingCall(GrpcTestServer.ClientStreaming, null, new CallOptions()))
        {
            await collecting.RequestStream.WriteAsync("a").WaitAsync(Bound);
            await collecting.RequestStream.WriteAsync("b").WaitAsync(Bound);
            await collecting.RequestStream.CompleteAsync().WaitAsync(Bound);
            Assert.Equal("a,b", await collecting.ResponseAsync.WaitAsync(Bound));
        }

        using (var chat = invoker.AsyncDuplexStreamingCall(GrpcTestServer.Duplex, null, new CallOptions()))
        {
            await chat.RequestStream.WriteAsync("hi").WaitAsync(Bound);
            Assert.Equal("echo hi", await FirstAsync(chat.ResponseStream));
            await chat.RequestStream.CompleteAsync().WaitAsync(Bound);
            Assert.Empty(await ReadAllAsync(chat.ResponseStream));
            Assert.Equal(StatusCode.OK, chat.GetStatus().StatusCode);
        }

        Assert.Equal((5L, 2L), Recorded());
        Assert.Equal(6, server.StreamCalls);
    }

    [Fact]
    public async Task A_stream_disposed_while_it_waits_in_a_limiters_queue_never_reaches_the_server_and_takes_no_permit()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await GrpcTestServer.StartAsync((request, _, _) => Task.FromResult(request), streamEnd: (_, n) => n == 1 ? release.Task : Task.CompletedTask);
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = Client(channel, pipeline);

        using var open = ServerStream(invoker, "open");
        Assert.Equal("open 0", await FirstAsync(open.ResponseStream));
        var waiting = ServerStream(invoker, "waiting");
        var read = waiting.ResponseStream.MoveNext(CancellationToken.None);
        Assert.Equal(1L, limiter.GetStatistics()!.CurrentQueuedCount);

        waiting.Dispose();
        var cancelled = await Assert.ThrowsAsync<RpcException>(() => read.WaitAsync(Bound));
        Assert.Equal(StatusCode.Cancelled, cancelled.StatusCode);
        Assert.Equal(StatusCode.Cancelled, waiting.GetStatus().StatusCode);
        Assert.Equal(0L, limiter.GetStatistics()!.CurrentQueuedCount);

        release.SetResult();
        Assert.Equal(["open 1", "open 2"], await ReadAllAsync(open.ResponseStream));
        Assert.Equal(1, AvailablePermits(limiter));
        Assert.Equal(1, server.StreamCalls);
    }

    [Theory]
    [InlineData(StreamKind.Server)]
    [InlineData(StreamKind.Client)]
    [InlineData(StreamKind.Duplex)]
    public async Task A_stream_whose_deadline_passes_while_it_waits_in_a_limiters_queue_ends_with_deadline_exceeded_and_is_neither_a_success_nor_a_failure(StreamKind kind)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await GrpcTestServer.StartAsync((request, _, _) => Task.FromResult(request), streamEnd: (_, n) => n == 1 ? release.Task : Task.CompletedTask);
        var breaker = Breaker(minimumThroughput: 100);
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure).AddRateLimiter(limiter).Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = Client(channel, pipeline);

        // The open stream holds the only permit until the test releases it, long after the waiter's deadline.
        using var open = ServerStream(invoker, "open");
        Assert.Equal("open 0", await FirstAsync(open.ResponseStream));
        var options = new CallOptions(deadline: DateTime.UtcNow.AddSeconds(1));
        Task waiting;
        Func<Status> statusOf;
        IDisposable call;
        switch (kind)
        {
            case StreamKind.Server:
                var serverStream = invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, options, "waiting");
                (waiting, statusOf, call) = (serverStream.ResponseStream.MoveNext(CancellationToken.None), serverStream.GetStatus, serverStream);
                break;
            case StreamKind.Client:
                var clientStream = invoker.AsyncClientStreamingCall(GrpcTestServer.ClientStreaming, null, options);
                (waiting, statusOf, call) = (clientStream.ResponseAsync, clientStream.GetStatus, clientStream);
                break;
            default:
                var duplex = invoker.AsyncDuplexStreamingCall(GrpcTestServer.Duplex, null, options);
                (waiting, statusOf, call) = (duplex.ResponseStream.MoveNext(CancellationToken.None), duplex.GetStatus, duplex);
                break;
        }

        using (call)
        {
            Assert.Equal(1L, limiter.GetStatistics()!.CurrentQueuedCount);

            // The deadline ends the wait as it ends a unary call's: DeadlineExceeded, with the open stream still holding its permit.
            var exceeded = await Assert.ThrowsAsync<RpcException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(StatusCode.DeadlineExceeded, exceeded.StatusCode);
            Assert.Equal(StatusCode.DeadlineExceeded, statusOf().StatusCode);
            Assert.Equal(0L, limiter.GetStatistics()!.CurrentQueuedCount);
            Assert.Equal(0, AvailablePermits(limiter));
        }

        // It never reached the server, and the breaker recorded nothing for it.
        Assert.Equal(1, server.StreamCalls);
        Assert.Equal((0L, 0L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));

        // Its place in the queue is free again: a stream can wait there, and is admitted when the open one ends.
        using var next = ServerStream(invoker, "next");
        var nextRead = next.ResponseStream.MoveNext(CancellationToken.None);
        Assert.Equal(1L, limiter.GetStatistics()!.CurrentQueuedCount);
        release.SetResult();
        Assert.Equal(["open 1", "open 2"], await ReadAllAsync(open.ResponseStream));
        Assert.True(await nextRead.WaitAsync(Bound));
        Assert.Equal(["next 1", "next 2"], await ReadAllAsync(next.ResponseStream));
        Assert.Equal(2, server.StreamCalls);
        Assert.Equal((2L, 0L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
        Assert.Equal(1, AvailablePermits(limiter));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(-1)]
    public async Task A_stream_gRPC_refuses_to_start_fails_as_gRPC_threw_it_and_is_neither_a_success_nor_a_failure(int hoursAhead)
    {
        // gRPC refuses a deadline that is not UTC when the call starts: the caller's mistake, not a deadline passing while
        // the stream waits for admission (read as UTC, a past one did), nor a failure of the dependency.
        await using var server = await GrpcTestServer.StartAsync((request, _, _) => Task.FromResult(request));
        var breaker = Breaker(minimumThroughput: 1);
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure).Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = Client(channel, pipeline);
        var deadline = DateTime.SpecifyKind(DateTime.UtcNow.AddHours(hoursAhead), DateTimeKind.Unspecified);

        using (var call = invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, new CallOptions(deadline: deadline), "item"))
        {
            var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
            Assert.Contains("DateTimeKind.Utc", refused.Message, StringComparison.Ordinal);
        }

        Assert.Equal(0, server.StreamCalls);
        Assert.Equal((CircuitState.Closed, 0L, 0L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task A_stream_ended_by_its_deadline_or_by_a_status_about_the_request_is_neither_a_success_nor_a_failure()
    {
        await using var server = await GrpcTestServer.StartAsync(
            (request, _, _) => Task.FromResult(request),
            streamEnd: async (context, _) =>
            {
                // A stream with a deadline is held open until it passes; the others end with a status about the request,
                // or the one their caller asks for.
                if (context.Deadline != DateTime.MaxValue)
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, context.CancellationToken);
                }

                throw GrpcTestServer.Status(context.RequestHeaders.GetValue("end") == "unavailable" ? StatusCode.Unavailable : StatusCode.InvalidArgument);
            });
        var breaker = Breaker(minimumThroughput: 100);
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure).Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = Client(channel, pipeline);

        // The deadline passes while the stream is open (or before it reached the server): gRPC ends it, as the caller asked.
        using (var bounded = invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(500)), "late"))
        {
            var exceeded = await Assert.ThrowsAsync<RpcException>(() => ReadAllAsync(bounded.ResponseStream));
            Assert.Equal(StatusCode.DeadlineExceeded, exceeded.StatusCode);
        }

        using (var invalid = ServerStream(invoker, "invalid"))
        {
            Assert.Equal("invalid 0", await FirstAsync(invalid.ResponseStream));
            var failed = await Assert.ThrowsAsync<RpcException>(() => invalid.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
            Assert.Equal(StatusCode.InvalidArgument, failed.StatusCode);
        }

        Assert.Equal((0L, 0L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));

        // The same breaker counts a stream that ends with a failure of the dependency.
        using (var unavailable = invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, new CallOptions(headers: new Metadata { { "end", "unavailable" } }), "down"))
        {
            var failed = await Assert.ThrowsAsync<RpcException>(() => ReadAllAsync(unavailable.ResponseStream));
            Assert.Equal(StatusCode.Unavailable, failed.StatusCode);
        }

        Assert.Equal((1L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Theory]
    [InlineData(StreamKind.Server)]
    [InlineData(StreamKind.Duplex)]
    public async Task A_stream_nobody_reads_or_disposes_gives_its_permit_back_once_its_deadline_has_passed_and_is_neither_a_success_nor_a_failure(StreamKind kind)
    {
        // The server holds every stream open until its deadline cancels it.
        await using var server = await GrpcTestServer.StartAsync(
            (request, _, _) => Task.FromResult(request),
            streamEnd: (context, _) => Task.Delay(Timeout.InfiniteTimeSpan, context.CancellationToken));
        var breaker = Breaker(minimumThroughput: 100);
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure).AddRateLimiter(limiter).Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = Client(channel, pipeline);
        // Long enough for the first message to be read before it passes on a loaded machine (the test suites run at once).
        var options = new CallOptions(deadline: DateTime.UtcNow.AddSeconds(3));

        // A message read, then the caller neither reads on nor disposes the call: gRPC ends it at its deadline, and
        // the permit it held comes back without anyone reading that end.
        IAsyncStreamReader<string> responses;
        Func<Status> statusOf;
        IDisposable call;
        if (kind == StreamKind.Server)
        {
            var stream = invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, options, "forgotten");
            Assert.Equal("forgotten 0", await FirstAsync(stream.ResponseStream));
            (responses, statusOf, call) = (stream.ResponseStream, stream.GetStatus, stream);
        }
        else
        {
            var chat = invoker.AsyncDuplexStreamingCall(GrpcTestServer.Duplex, null, options);
            await chat.RequestStream.WriteAsync("forgotten").WaitAsync(Bound);
            Assert.Equal("echo forgotten", await FirstAsync(chat.ResponseStream));
            (responses, statusOf, call) = (chat.ResponseStream, chat.GetStatus, chat);
        }

        using (call)
        {
            Assert.Equal(0, AvailablePermits(limiter));
            await WaitForPermitsAsync(limiter, 1);

            // The deadline is the caller's bound: neither a success nor a failure.
            Assert.Equal((0L, 0L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));

            // A caller that reads after all sees the end gRPC gave the call, as without the interceptor.
            var exceeded = await Assert.ThrowsAsync<RpcException>(() => responses.MoveNext(CancellationToken.None).WaitAsync(Bound));
            Assert.Equal(StatusCode.DeadlineExceeded, exceeded.StatusCode);
            Assert.Equal(StatusCode.DeadlineExceeded, statusOf().StatusCode);
        }

        Assert.Equal(1, AvailablePermits(limiter));
        Assert.Equal((0L, 0L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));

        // The permit serves the next stream.
        using var next = ServerStream(invoker, "next");
        Assert.Equal("next 0", await FirstAsync(next.ResponseStream));
        Assert.Equal(0, AvailablePermits(limiter));
    }

    [Fact]
    public async Task A_duplex_stream_holds_its_permit_until_disposed_mid_stream_and_a_client_stream_until_its_response()
    {
        await using var server = await GrpcTestServer.StartAsync((request, _, _) => Task.FromResult(request));
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = Client(channel, pipeline);

        var chat = invoker.AsyncDuplexStreamingCall(GrpcTestServer.Duplex, null, new CallOptions());
        await chat.RequestStream.WriteAsync("hi").WaitAsync(Bound);
        Assert.Equal("echo hi", await FirstAsync(chat.ResponseStream));
        Assert.Equal(0, AvailablePermits(limiter));

        using (var shed = invoker.AsyncClientStreamingCall(GrpcTestServer.ClientStreaming, null, new CallOptions()))
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => shed.ResponseAsync.WaitAsync(Bound));
            Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
            Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => shed.RequestStream.WriteAsync("a").WaitAsync(Bound))).StatusCode);
        }

        // Mid-stream: the request stream still open, the response stream not read to its end.
        chat.Dispose();
        await WaitForPermitsAsync(limiter, 1);

        using (var collecting = invoker.AsyncClientStreamingCall(GrpcTestServer.ClientStreaming, null, new CallOptions()))
        {
            await collecting.RequestStream.WriteAsync("a").WaitAsync(Bound);
            Assert.Equal(0, AvailablePermits(limiter));
            await collecting.RequestStream.CompleteAsync().WaitAsync(Bound);
            Assert.Equal("a", await collecting.ResponseAsync.WaitAsync(Bound));
            Assert.Equal(1, AvailablePermits(limiter));
        }

        Assert.Equal(1, AvailablePermits(limiter));
        Assert.Equal(2, server.StreamCalls);
    }

    [Fact]
    public async Task A_refused_client_stream_whose_response_is_not_read_leaves_no_unobserved_exception()
    {
        await using var server = await GrpcTestServer.StartAsync((request, _, _) => Task.FromResult(request));
        var breaker = Breaker(minimumThroughput: 100);
        breaker.Isolate();
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure).Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = Client(channel, pipeline);

        // Only this test's refusals count (an isolated circuit): other tests run alongside.
        var unobserved = await UnobservedExceptions.LeftByAsync(
            inner => inner is RpcException { Status.DebugException: IsolatedCircuitException },
            async () =>
            {
                for (var i = 0; i < 5; i++)
                {
                    await WriteAndDropAsync(invoker);
                }
            });

        Assert.Empty(unobserved);
        Assert.Equal(0, server.StreamCalls);

        // The caller's write fails, and it gives up on the call without reading its response.
        [MethodImpl(MethodImplOptions.NoInlining)]
        static async Task WriteAndDropAsync(CallInvoker invoker)
        {
            using var call = invoker.AsyncClientStreamingCall(GrpcTestServer.ClientStreaming, null, new CallOptions());
            var refused = await Assert.ThrowsAsync<RpcException>(() => call.RequestStream.WriteAsync("a").WaitAsync(Bound));
            Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        }
    }

    [Fact]
    public async Task A_stream_disposed_after_it_was_refused_or_its_deadline_passed_in_the_queue_leaves_no_unobserved_exception()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await GrpcTestServer.StartAsync((request, _, _) => Task.FromResult(request), streamEnd: (_, n) => n == 1 ? release.Task : Task.CompletedTask);
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = Client(channel, pipeline);
        using var open = ServerStream(invoker, "open");
        Assert.Equal("open 0", await FirstAsync(open.ResponseStream));

        // Only this test's disposals count (their message names the request): other tests run alongside.
        var unobserved = await UnobservedExceptions.LeftByAsync(
            inner => inner is OperationCanceledException && inner.Message.Contains("disposed", StringComparison.Ordinal),
            async () =>
            {
                // Each round, one call waits in the queue until its deadline passes, and one, finding the queue full, is refused.
                for (var i = 0; i < 3; i++)
                {
                    await ExpireAndDisposeAsync(invoker);
                }
            });

        Assert.Empty(unobserved);
        release.SetResult();
        Assert.Equal(["open 1", "open 2"], await ReadAllAsync(open.ResponseStream));

        [MethodImpl(MethodImplOptions.NoInlining)]
        static async Task ExpireAndDisposeAsync(CallInvoker invoker)
        {
            using var call = invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(500)), "late");
            var waiting = call.ResponseStream.MoveNext(CancellationToken.None);
            using (var shed = ServerStream(invoker, "shed"))
            {
                var refused = await Assert.ThrowsAsync<RpcException>(() => shed.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
                Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
            }

            var exceeded = await Assert.ThrowsAsync<RpcException>(() => waiting.WaitAsync(Bound));
            Assert.Equal(StatusCode.DeadlineExceeded, exceeded.StatusCode);
        }
    }

    [Fact]
    public async Task A_strategy_that_throws_on_entry_fails_the_streams_reads_and_writes_instead_of_leaving_them_waiting()
    {
        await using var server = await GrpcTestServer.StartAsync((request, _, _) => Task.FromResult(request));
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(new ThrowingOnEntry(), static _ => true).Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = Client(channel, pipeline);

        using var stream = ServerStream(invoker);
        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => stream.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
        Assert.Equal(ThrowingOnEntry.Message, failed.Message);
        using var chat = invoker.AsyncDuplexStreamingCall(GrpcTestServer.Duplex, null, new CallOptions());
        Assert.Equal(ThrowingOnEntry.Message, (await Assert.ThrowsAsync<InvalidOperationException>(() => chat.RequestStream.WriteAsync("a").WaitAsync(Bound))).Message);
        Assert.Equal(0, server.StreamCalls);
    }

    /// <summary>A faulty strategy of a user's own: its entry throws.</summary>
    private sealed class ThrowingOnEntry() : ResilienceStrategy("throwing")
    {
        public const string Message = "the strategy is broken";

        protected override Entry Enter(ref StrategyContext context) => throw new InvalidOperationException(Message);
    }
}
