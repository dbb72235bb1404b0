using System.Runtime.CompilerServices;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Grpc.Tests;

public sealed class ResilienceClientInterceptorTests
{
    private static RetryOptions ImmediateRetries(int attempts) =>
        new() { MaxRetryAttempts = attempts, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false };

    // On a clock nobody advances, only something else (a cancellation, a deadline, a pushback) ends the wait.
    private static RetryOptions HourLongRetries() =>
        new() { Delay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), UseJitter = false };

    /// <summary>Three immediate retries around a breaker that judges every attempt.</summary>
    private static ResiliencePipeline RetriesAroundBreaker(CircuitBreaker breaker) =>
        new ResiliencePipelineBuilder()
            .AddRetry(ImmediateRetries(3), GrpcOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure)
            .Build();

    private static CircuitBreakerOptions Breaker(int minimumThroughput) =>
        new() { FailureRatio = 0.5, MinimumThroughput = minimumThroughput, BreakDuration = TimeSpan.FromMinutes(5) };

    private static (GrpcChannel Channel, CallInvoker Invoker) Client(GrpcTestServer server, ResiliencePipeline pipeline)
    {
        var channel = GrpcChannel.ForAddress(server.Address);
        return (channel, channel.Intercept(new ResilienceClientInterceptor(pipeline)));
    }

    private static AsyncUnaryCall<string> Call(CallInvoker invoker, string request = "hello", CancellationToken cancellationToken = default) =>
        invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, new CallOptions(cancellationToken: cancellationToken), request);

    [Fact]
    public async Task Unavailable_is_retried_and_the_caller_sees_the_last_attempts_response_and_status()
    {
        await using var server = await GrpcTestServer.StartAsync((request, _, n) => n <= 2 ? throw GrpcTestServer.Status(StatusCode.Unavailable) : Task.FromResult($"echo {request}"));
        var pipeline = new ResiliencePipelineBuilder().AddRetry(ImmediateRetries(3), GrpcOutcomes.IsTransientFailure).Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        using var call = Call(invoker);

        Assert.Equal("echo hello", await call.ResponseAsync);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.NotNull(await call.ResponseHeadersAsync);
        Assert.Equal(3, server.Calls);
    }

    [Fact]
    public async Task Failures_open_the_breaker_which_then_refuses_with_unavailable_without_reaching_the_server()
    {
        await using var server = await GrpcTestServer.StartAsync((_, _, _) => throw GrpcTestServer.Status(StatusCode.Unavailable));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 3));
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure).Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        for (var i = 0; i < 3; i++)
        {
            var failed = await Assert.ThrowsAsync<RpcException>(() => Call(invoker).ResponseAsync);
            Assert.Equal(StatusCode.Unavailable, failed.StatusCode);
            Assert.Null(failed.Status.DebugException as ResilienceException);
        }

        Assert.Equal(CircuitState.Open, breaker.State);
        using var refused = Call(invoker);
        var rejection = await Assert.ThrowsAsync<RpcException>(() => refused.ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, rejection.StatusCode);
        Assert.IsType<BrokenCircuitException>(rejection.Status.DebugException);
        Assert.Equal(StatusCode.Unavailable, refused.GetStatus().StatusCode);
        Assert.True(long.Parse(rejection.Trailers.GetValue(GrpcOutcomes.RetryPushbackTrailer)!, System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal(3, server.Calls);
    }

    [Fact]
    public async Task A_status_about_the_request_is_neither_a_failure_nor_retried()
    {
        await using var server = await GrpcTestServer.StartAsync((_, _, _) => throw GrpcTestServer.Status(StatusCode.InvalidArgument));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 1));
        var pipeline = RetriesAroundBreaker(breaker);
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        var failed = await Assert.ThrowsAsync<RpcException>(() => Call(invoker).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, failed.StatusCode);
        Assert.Equal(1, server.Calls);
        // An exception the predicate does not handle is neither a success nor a failure: the breaker's window ignores it.
        Assert.Equal((CircuitState.Closed, 0L, 0L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task A_reset_stream_is_a_failure_and_is_retried()
    {
        await using var server = await GrpcTestServer.StartAsync((request, context, n) => n == 1 ? GrpcTestServer.Reset(context) : Task.FromResult(request));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 10));
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(ImmediateRetries(2), GrpcOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure)
            .Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        Assert.Equal("again", await Call(invoker, "again").ResponseAsync);
        Assert.Equal(2, server.Calls);
        Assert.Equal((2L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task A_pipeline_timeout_ends_a_slow_call_with_deadline_exceeded()
    {
        // The timeout runs on a fake clock, advanced once the server holds the call: no race with the network.
        await using var server = await GrpcTestServer.StartAsync((_, context, _) => GrpcTestServer.Slow(context));
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder()
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time })
            .Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        using var call = Call(invoker);
        await server.WaitForCallAsync();
        time.Advance(TimeSpan.FromSeconds(2));
        var timedOut = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);

        Assert.Equal(StatusCode.DeadlineExceeded, timedOut.StatusCode);
        Assert.IsType<TimeoutRejectedException>(timedOut.Status.DebugException);
        Assert.Equal(StatusCode.DeadlineExceeded, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Caller_cancellation_stays_cancelled_is_not_retried_and_is_not_a_failure()
    {
        await using var server = await GrpcTestServer.StartAsync((_, context, _) => GrpcTestServer.Slow(context));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 1));
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(ImmediateRetries(3), GrpcOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure)
            .AddTimeout(TimeSpan.FromMinutes(1))
            .Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;
        using var cancellation = new CancellationTokenSource();

        using var call = Call(invoker, cancellationToken: cancellation.Token);
        await server.WaitForCallAsync();
        await cancellation.CancelAsync();
        var cancelled = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);

        Assert.Equal(StatusCode.Cancelled, cancelled.StatusCode);
        Assert.Equal(1, server.Calls);
        Assert.Equal((CircuitState.Closed, 0L), (breaker.State, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task Caller_cancellation_during_a_retry_delay_ends_the_call_with_the_cancelled_status()
    {
        await using var server = await GrpcTestServer.StartAsync((_, _, _) => throw GrpcTestServer.Status(StatusCode.Unavailable));

        // The retry waits an hour on a clock nobody advances: the caller cancels while no attempt is running.
        var time = new TimerWatchingTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(HourLongRetries(), GrpcOutcomes.IsTransientFailure)
            .Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;
        using var cancellation = new CancellationTokenSource();

        using var call = Call(invoker, cancellationToken: cancellation.Token);
        await time.TimerCreated;
        await cancellation.CancelAsync();
        var cancelled = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);

        Assert.Equal(StatusCode.Cancelled, cancelled.StatusCode);
        Assert.Equal(StatusCode.Cancelled, call.GetStatus().StatusCode);
        Assert.Equal(1, server.Calls);
    }

    [Fact]
    public async Task Caller_cancellation_during_a_retry_delay_of_a_blocking_call_ends_it_with_the_cancelled_status()
    {
        await using var server = await GrpcTestServer.StartAsync((_, _, _) => throw GrpcTestServer.Status(StatusCode.Unavailable));
        var time = new TimerWatchingTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(HourLongRetries(), GrpcOutcomes.IsTransientFailure)
            .Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;
        using var cancellation = new CancellationTokenSource();

        var blocking = Task.Run(() => invoker.BlockingUnaryCall(GrpcTestServer.Unary, null, new CallOptions(cancellationToken: cancellation.Token), "blocking"));
        await time.TimerCreated;
        await cancellation.CancelAsync();
        var cancelled = await Assert.ThrowsAsync<RpcException>(() => blocking);

        Assert.Equal(StatusCode.Cancelled, cancelled.StatusCode);
        Assert.Equal(1, server.Calls);
    }

    [Fact]
    public async Task The_callers_deadline_ends_the_call_with_deadline_exceeded_and_is_neither_retried_nor_a_failure()
    {
        await using var server = await GrpcTestServer.StartAsync((_, context, _) => GrpcTestServer.Slow(context));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 100));
        var pipeline = RetriesAroundBreaker(breaker);
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        using var call = invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(500)), "late");
        var exceeded = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));

        // A retry after the deadline could only fail at once without reaching the server, and count as a failure.
        Assert.Equal(StatusCode.DeadlineExceeded, exceeded.StatusCode);
        Assert.Equal(StatusCode.DeadlineExceeded, call.GetStatus().StatusCode);
        Assert.InRange(server.Calls, 0, 1);
        Assert.Equal(0L, breaker.GetSnapshot().Failures);
    }

    [Theory]
    [InlineData(1, DateTimeKind.Unspecified)]
    [InlineData(-1, DateTimeKind.Unspecified)]
    [InlineData(1, DateTimeKind.Local)]
    public async Task A_call_gRPC_refuses_to_start_reaches_the_caller_as_gRPC_threw_it_neither_retried_nor_a_failure(int hoursAhead, DateTimeKind kind)
    {
        // gRPC refuses a deadline that is not UTC: a mistake of the caller, which no retry mends and no breaker should
        // count against the server. Read as UTC, a past one would have ended the call as its deadline instead.
        await using var server = await GrpcTestServer.StartAsync((request, _, _) => Task.FromResult(request));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 1));
        var pipeline = RetriesAroundBreaker(breaker);
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;
        var deadline = DateTime.SpecifyKind(DateTime.UtcNow.AddHours(hoursAhead), kind);

        using var call = invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, new CallOptions(deadline: deadline), "hello");
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => call.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));
        var blocked = Assert.Throws<InvalidOperationException>(() => invoker.BlockingUnaryCall(GrpcTestServer.Unary, null, new CallOptions(deadline: deadline), "hello"));

        Assert.Contains("DateTimeKind.Utc", refused.Message, StringComparison.Ordinal);
        Assert.Contains("DateTimeKind.Utc", blocked.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.Calls);
        Assert.Equal((CircuitState.Closed, 0L, 0L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public void A_call_gRPC_refuses_to_start_is_no_failure_of_the_dependency()
    {
        Assert.False(GrpcOutcomes.IsTransientFailure(new InvalidOperationException("Deadline must have a kind DateTimeKind.Utc.")));
        Assert.False(GrpcOutcomes.IsTransientFailure(new ObjectDisposedException("GrpcChannel")));
        Assert.False(GrpcOutcomes.IsTransientFailure(new NotSupportedException()));
        Assert.True(GrpcOutcomes.IsTransientFailure(new IOException("reset")));
        Assert.True(GrpcOutcomes.IsTransientFailure(new TimeoutRejectedException()));
    }

    [Fact]
    public async Task The_callers_deadline_ends_a_retry_delay_with_deadline_exceeded()
    {
        await using var server = await GrpcTestServer.StartAsync((_, _, _) => throw GrpcTestServer.Status(StatusCode.Unavailable));

        // The retry waits an hour on a clock nobody advances: only the deadline can end the call.
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = new FakeTimeProvider() }
            .AddRetry(HourLongRetries(), GrpcOutcomes.IsTransientFailure)
            .Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        using var call = invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(1)), "hello");
        var exceeded = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(StatusCode.DeadlineExceeded, exceeded.StatusCode);
        Assert.Equal(StatusCode.DeadlineExceeded, call.GetStatus().StatusCode);
        Assert.Equal(1, server.Calls);
    }

    [Fact]
    public async Task The_callers_deadline_ends_a_blocking_call_with_deadline_exceeded_and_is_not_a_failure()
    {
        await using var server = await GrpcTestServer.StartAsync((_, context, _) => GrpcTestServer.Slow(context));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 100));
        var pipeline = RetriesAroundBreaker(breaker);
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        var blocking = Task.Run(() => invoker.BlockingUnaryCall(GrpcTestServer.Unary, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(500)), "late"));
        var exceeded = await Assert.ThrowsAsync<RpcException>(() => blocking.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(StatusCode.DeadlineExceeded, exceeded.StatusCode);
        Assert.InRange(server.Calls, 0, 1);
        Assert.Equal(0L, breaker.GetSnapshot().Failures);
    }

    [Fact]
    public async Task Disposing_the_call_cancels_it_without_counting_a_failure()
    {
        await using var server = await GrpcTestServer.StartAsync((_, context, _) => GrpcTestServer.Slow(context));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 1));
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure).Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        var call = Call(invoker);
        await server.WaitForCallAsync();
        call.Dispose();
        var cancelled = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);

        Assert.Equal(StatusCode.Cancelled, cancelled.StatusCode);
        Assert.Equal((CircuitState.Closed, 0L, 0L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task A_servers_pushback_replaces_the_retry_delay_and_a_pushback_beyond_the_cap_ends_the_retries()
    {
        static RpcException Pushback(string milliseconds) =>
            new(new Status(StatusCode.Unavailable, "busy"), new Metadata { { GrpcOutcomes.RetryPushbackTrailer, milliseconds } });

        await using var server = await GrpcTestServer.StartAsync((request, _, n) => n switch
        {
            1 => throw Pushback("0"),
            3 => throw Pushback("120000"),
            _ => Task.FromResult(request),
        });

        // The retry's own delay is an hour on a clock nobody advances: only the pushback lets it retry.
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = new FakeTimeProvider(), RetryAfterHint = GrpcOutcomes.RetryPushbackOf }
            .AddRetry(
                new RetryOptions { Delay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), UseJitter = false, MaxRetryAfter = TimeSpan.FromMinutes(1) },
                GrpcOutcomes.IsTransientFailure)
            .Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        Assert.Equal("again", await Call(invoker, "again").ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, server.Calls);

        var refused = await Assert.ThrowsAsync<RpcException>(() => Call(invoker).ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Equal(3, server.Calls);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("soon")]
    public async Task A_negative_or_invalid_pushback_ends_the_retries(string pushback)
    {
        // gRFC A6: a server that sends a negative or unparseable pushback asks the client not to retry at all.
        await using var server = await GrpcTestServer.StartAsync((request, _, n) => n == 1
            ? throw new RpcException(new Status(StatusCode.Unavailable, "busy"), new Metadata { { GrpcOutcomes.RetryPushbackTrailer, pushback } })
            : Task.FromResult(request));
        var pipeline = new ResiliencePipelineBuilder { RetryAfterHint = GrpcOutcomes.RetryPushbackOf }
            .AddRetry(ImmediateRetries(3), GrpcOutcomes.IsTransientFailure)
            .Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        var refused = await Assert.ThrowsAsync<RpcException>(() => Call(invoker).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Equal(1, server.Calls);
    }

    [Fact]
    public async Task Every_attempt_reaches_the_server_with_the_callers_deadline()
    {
        // gRPC sends the deadline as a timeout (rounded up to its unit) that the server turns back into a deadline: the
        // caller's to within a few seconds, never the pipeline's longer timeout nor none.
        var deadlines = new System.Collections.Concurrent.ConcurrentQueue<DateTime>();
        await using var server = await GrpcTestServer.StartAsync((request, context, n) =>
        {
            deadlines.Enqueue(context.Deadline);
            return n <= 2 ? throw GrpcTestServer.Status(StatusCode.Unavailable) : Task.FromResult(request);
        });
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(ImmediateRetries(3), GrpcOutcomes.IsTransientFailure)
            .AddTimeout(TimeSpan.FromMinutes(20))
            .Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;
        var deadline = DateTime.UtcNow.AddMinutes(10);

        using var call = invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, new CallOptions(deadline: deadline), "hello");

        Assert.Equal("hello", await call.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(3, deadlines.Count);
        Assert.All(deadlines, seen => Assert.InRange(seen, deadline.AddSeconds(-30), deadline.AddSeconds(5)));
    }

    [Fact]
    public async Task A_server_shedding_load_with_a_pushback_is_retried_once_the_pushback_has_passed()
    {
        // The server's token bucket and the client's retry run on one fake clock: the refusal's pushback is the time
        // until the bucket has a token again, and the retry waits exactly that.
        var time = new TimerWatchingTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, TimeProvider = time });
        var shedding = new ResiliencePipelineBuilder().AddRateLimiter(bucket).Build();
        await using var server = await GrpcTestServer.StartAsync(
            (request, _, _) => Task.FromResult(request),
            options => options.Interceptors.Add<ResilienceServerInterceptor>(shedding));
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time, RetryAfterHint = GrpcOutcomes.RetryPushbackOf }
            .AddRetry(HourLongRetries(), GrpcOutcomes.IsTransientFailure)
            .Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        Assert.Equal("first", await Call(invoker, "first").ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));
        using var second = Call(invoker, "second");
        await time.TimerCreated.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(second.ResponseAsync.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal("second", await second.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, server.Calls);
    }

    [Fact]
    public async Task A_server_shedding_load_without_a_pushback_is_retried_only_while_the_clients_retry_budget_lasts()
    {
        // The server admits one call at a time and holds the first; every other attempt is shed with ResourceExhausted.
        var gate = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var shedding = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        await using var server = await GrpcTestServer.StartAsync(
            (request, _, n) => n == 1 ? gate.Task : Task.FromResult(request),
            options => options.Interceptors.Add<ResilienceServerInterceptor>(shedding));

        // A budget of 4 tokens lets a client retry while it holds more than 2: each shed attempt takes one.
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 4, TokenRatio = 0.1 });
        var retries = ImmediateRetries(10);
        retries.Budget = budget;
        var pipeline = new ResiliencePipelineBuilder().AddRetry(retries, GrpcOutcomes.IsTransientFailure).Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        using var holding = Call(invoker, "first");
        await server.WaitForCallAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var shed = await Assert.ThrowsAsync<RpcException>(() => Call(invoker, "second").ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(StatusCode.ResourceExhausted, shed.StatusCode);
        Assert.Equal(2L, limiter.GetStatistics()!.TotalFailedLeases);
        shed = await Assert.ThrowsAsync<RpcException>(() => Call(invoker, "third").ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(StatusCode.ResourceExhausted, shed.StatusCode);
        Assert.Equal(3L, limiter.GetStatistics()!.TotalFailedLeases);

        gate.SetResult("first done");
        Assert.Equal("first done", await holding.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(1, server.Calls);
    }

    [Fact]
    public async Task Status_and_trailers_are_unknown_while_a_retry_waits_and_the_last_attempts_once_the_call_has_ended()
    {
        // Between attempts the call has not ended: the failed attempt's status is not the call's (the next may succeed).
        await using var server = await GrpcTestServer.StartAsync((request, _, n) => n == 1 ? throw GrpcTestServer.Status(StatusCode.Unavailable) : Task.FromResult(request));
        var time = new TimerWatchingTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { Delay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(1), UseJitter = false }, GrpcOutcomes.IsTransientFailure)
            .Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        using var call = Call(invoker);
        await time.TimerCreated.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Throws<InvalidOperationException>(() => call.GetStatus());
        Assert.Throws<InvalidOperationException>(() => call.GetTrailers());
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("hello", await call.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.NotNull(call.GetTrailers());
        Assert.Equal(2, server.Calls);
    }

    [Fact]
    public void The_pushback_is_read_from_the_trailer_and_an_invalid_one_asks_for_no_retry()
    {
        static RpcException With(string? value) => new(
            new Status(StatusCode.Unavailable, "busy"),
            value is null ? [] : new Metadata { { GrpcOutcomes.RetryPushbackTrailer, value } });

        Assert.Equal(TimeSpan.FromMilliseconds(250), GrpcOutcomes.RetryPushbackOf(With("250")));
        Assert.Equal(TimeSpan.FromDays(365), GrpcOutcomes.RetryPushbackOf(With("99999999999999999")));
        Assert.Equal(TimeSpan.FromDays(365), GrpcOutcomes.RetryPushbackOf(With("-1")));
        Assert.Equal(TimeSpan.FromDays(365), GrpcOutcomes.RetryPushbackOf(With("soon")));
        Assert.Equal(TimeSpan.FromDays(365), GrpcOutcomes.RetryPushbackOf(With("")));
        Assert.Null(GrpcOutcomes.RetryPushbackOf(With(null)));
        Assert.Null(GrpcOutcomes.RetryPushbackOf(new IOException()));
    }

    [Fact]
    public async Task A_call_that_failed_before_its_headers_leaves_no_unobserved_exception_when_its_headers_are_not_read()
    {
        await using var server = await GrpcTestServer.StartAsync((request, context, _) => GrpcTestServer.Reset(context));
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(Breaker(minimumThroughput: 100), GrpcOutcomes.IsTransientFailure).Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        // Only failures of a reset stream, as this server's, count: other tests run alongside.
        var unobserved = await UnobservedExceptions.LeftByAsync(
            inner => inner is RpcException && inner.Message.Contains("reset the stream", StringComparison.Ordinal),
            async () =>
            {
                for (var i = 0; i < 5; i++)
                {
                    await CallAndDropAsync(invoker);
                }
            });

        Assert.Empty(unobserved);
        Assert.Equal(5, server.Calls);

        // The caller reads the response only; the call and its tasks become garbage when this returns.
        [MethodImpl(MethodImplOptions.NoInlining)]
        static async Task CallAndDropAsync(CallInvoker invoker)
        {
            using var call = invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, new CallOptions(), "reset");
            await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        }
    }

    [Fact]
    public async Task Every_kind_of_call_hands_out_one_headers_task_however_often_it_is_asked_as_grpc_does()
    {
        await using var server = await GrpcTestServer.StartAsync((request, _, _) => Task.FromResult(request));
        using var channel = GrpcChannel.ForAddress(server.Address);
        foreach (var invoker in new[] { channel.CreateCallInvoker(), channel.Intercept(new ResilienceClientInterceptor(new ResiliencePipelineBuilder().Build())) })
        {
            using var unary = invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, new CallOptions(), "one");
            using var serverStream = invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, new CallOptions(), "two");
            using var clientStream = invoker.AsyncClientStreamingCall(GrpcTestServer.ClientStreaming, null, new CallOptions());
            using var duplex = invoker.AsyncDuplexStreamingCall(GrpcTestServer.Duplex, null, new CallOptions());
            Assert.Same(unary.ResponseHeadersAsync, unary.ResponseHeadersAsync);
            Assert.Same(serverStream.ResponseHeadersAsync, serverStream.ResponseHeadersAsync);
            Assert.Same(clientStream.ResponseHeadersAsync, clientStream.ResponseHeadersAsync);
            Assert.Same(duplex.ResponseHeadersAsync, duplex.ResponseHeadersAsync);
            Assert.Equal("one", await unary.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));
            await clientStream.RequestStream.CompleteAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await duplex.RequestStream.CompleteAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await clientStream.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

#if DEBUG
    [Fact(Skip = "Allocations are counted in optimized builds only: in Debug, async state machines are allocated as classes.")]
#else
    [Fact]
#endif
    public void A_successful_call_allocates_no_delegate_and_no_header_task_of_its_own()
    {
        // In process, so that every allocation is on this thread: a channel whose calls have already succeeded.
        var response = Task.FromResult("ok");
        var headers = Task.FromResult(new Metadata());
        var trailers = new Metadata();
        Func<Status> status = () => Status.DefaultSuccess;
        Func<Metadata> getTrailers = () => trailers;
        Action dispose = () => { };
        Interceptor.AsyncUnaryCallContinuation<string, string> channel = (_, _) => new AsyncUnaryCall<string>(response, headers, status, getTrailers, dispose);
        var context = new ClientInterceptorContext<string, string>(GrpcTestServer.Unary, null, new CallOptions());
        var interceptor = new ResilienceClientInterceptor(
            new ResiliencePipelineBuilder().AddCircuitBreaker(Breaker(minimumThroughput: 100), GrpcOutcomes.IsTransientFailure).Build());

        long BytesPerCall(bool intercepted)
        {
            const int Calls = 1000;
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < Calls; i++)
            {
                using var call = intercepted ? interceptor.AsyncUnaryCall("hello", context, channel) : channel("hello", context);
                Assert.True(call.ResponseAsync.IsCompletedSuccessfully);
            }

            return (GC.GetAllocatedBytesForCurrentThread() - before) / Calls;
        }

        BytesPerCall(intercepted: true);
        BytesPerCall(intercepted: false);
        var overhead = BytesPerCall(intercepted: true) - BytesPerCall(intercepted: false);

        // The call's own objects (its attempts, linked cancellation source, response task, the caller's AsyncUnaryCall)
        // take about 350 bytes; three delegates and an eagerly awaited header task took about 350 more.
        Assert.InRange(overhead, 1, 400);
    }

    [Fact]
    public async Task The_blocking_call_runs_through_the_same_pipeline()
    {
        await using var server = await GrpcTestServer.StartAsync((request, _, n) => n == 1 ? throw GrpcTestServer.Status(StatusCode.Unavailable) : Task.FromResult(request));
        var pipeline = new ResiliencePipelineBuilder().AddRetry(ImmediateRetries(1), GrpcOutcomes.IsTransientFailure).Build();
        var (channel, invoker) = Client(server, pipeline);
        using var _ = channel;

        var response = await Task.Run(() => invoker.BlockingUnaryCall(GrpcTestServer.Unary, null, new CallOptions(), "blocking"));

        Assert.Equal("blocking", response);
        Assert.Equal(2, server.Calls);
    }

    [Fact]
    public async Task Methods_without_a_pipeline_pass_through_unary_and_streaming_alike()
    {
        await using var server = await GrpcTestServer.StartAsync((_, _, _) => throw GrpcTestServer.Status(StatusCode.Unavailable));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 1));
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure).Build();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = channel.Intercept(new ResilienceClientInterceptor(method => method.Name == "Other" ? pipeline : null));

        await Assert.ThrowsAsync<RpcException>(() => Call(invoker).ResponseAsync);
        using var stream = invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, new CallOptions(), "item");
        var items = new List<string>();
        while (await stream.ResponseStream.MoveNext(CancellationToken.None))
        {
            items.Add(stream.ResponseStream.Current);
        }

        Assert.Equal(["item 0", "item 1", "item 2"], items);
        Assert.Equal((CircuitState.Closed, 0L), (breaker.State, breaker.GetSnapshot().Calls));
    }
}
