using System.Net;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Http.Tests;

public sealed class ResilienceHandlerTests
{
    private static RetryOptions ImmediateRetries(int attempts) =>
        new() { MaxRetryAttempts = attempts, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false };

    private static CircuitBreakerOptions Breaker(int minimumThroughput) =>
        new() { FailureRatio = 0.5, MinimumThroughput = minimumThroughput, BreakDuration = TimeSpan.FromMinutes(5) };

    private static HttpClient Client(HttpMessageHandler handler, LoopbackServer server, HttpMessageHandler? inner = null)
    {
        var resilience = (DelegatingHandler)handler;
        resilience.InnerHandler = inner ?? new SocketsHttpHandler();
        return new HttpClient(resilience) { BaseAddress = server.Address };
    }

    [Fact]
    public async Task Server_errors_are_retried_until_a_response_succeeds()
    {
        await using var server = await LoopbackServer.StartAsync((context, n) => LoopbackServer.Status(context, n <= 2 ? 503 : 200, n <= 2 ? "busy" : "ok"));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(3), HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);

        using var response = await client.GetAsync("/orders");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok", await response.Content.ReadAsStringAsync());
        Assert.Equal(3, server.Requests);
    }

    [Fact]
    public async Task Client_errors_are_not_failures_and_are_not_retried()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 404));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 2));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(3), HttpOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);

        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync("/missing");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        Assert.Equal(3, server.Requests);
        Assert.Equal((CircuitState.Closed, 3L, 0L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task A_status_thrown_as_an_exception_by_an_inner_handler_is_judged_as_the_response_would_be()
    {
        // Requests to /missing get 404, the first request to /busy a 503, then 200.
        await using var server = await LoopbackServer.StartAsync((context, n) =>
            LoopbackServer.Status(context, context.Request.Path == "/missing" ? 404 : n == 1 ? 503 : 200));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 2));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(3), HttpOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server, new EnsuringSuccess());

        // A 503 thrown as an HttpRequestException is retried and counted; a 404 is the caller's mistake: neither.
        using var response = await client.GetAsync("/busy");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var missing = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/missing"));

        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(3, server.Requests);
        Assert.Equal((CircuitState.Closed, 1L), (breaker.State, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task Server_errors_open_the_breaker_which_then_rejects_without_reaching_the_server()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 500, "down"));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 4));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);

        for (var i = 0; i < 4; i++)
        {
            // With no retry, a failed response is still the caller's response.
            using var response = await client.GetAsync("/orders");
            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        }

        Assert.Equal(CircuitState.Open, breaker.State);
        var rejected = await Assert.ThrowsAsync<BrokenCircuitException>(() => client.GetAsync("/orders"));
        Assert.NotNull(rejected.RetryAfter);
        Assert.Equal(4, server.Requests);
    }

    [Fact]
    public async Task A_reset_connection_is_a_failure_the_breaker_counts_and_the_retry_repeats()
    {
        await using var server = await LoopbackServer.StartAsync((context, n) => n == 1 ? LoopbackServer.Reset(context) : LoopbackServer.Status(context, 200, "ok"));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 10));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(2), HttpOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);

        using var response = await client.GetAsync("/orders");

        Assert.Equal("ok", await response.Content.ReadAsStringAsync());
        Assert.Equal(2, server.Requests);
        Assert.Equal((2L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task A_body_cut_off_after_the_headers_is_read_outside_the_pipeline_unless_an_inner_handler_buffers_it()
    {
        using var headersReceived = new SemaphoreSlim(0);
        await using var server = await LoopbackServer.StartAsync((context, n) =>
            n is 1 or 2 ? LoopbackServer.CutOff(context, headersReceived.WaitAsync()) : LoopbackServer.Status(context, 200, "whole"));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 10));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(2), HttpOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure)
            .Build();

        // The attempt ends with the headers: HttpClient reads the body after the pipeline has counted a success.
        using (var client = Client(new ResilienceHandler(pipeline), server, new HeadersReceived(headersReceived)))
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/orders"));
        }

        Assert.Equal((1, 1L, 0L), (server.Requests, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));

        // An inner handler that reads the body makes the cut a failure of the attempt: counted, and retried.
        using var buffering = Client(new ResilienceHandler(pipeline), server, new Buffering(new HeadersReceived(headersReceived)));
        using var response = await buffering.GetAsync("/orders");
        Assert.Equal("whole", await response.Content.ReadAsStringAsync());
        Assert.Equal((3, 3L, 1L), (server.Requests, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task Without_a_retry_a_reset_connection_reaches_the_caller_as_the_transport_exception()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Reset(context));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddCircuitBreaker(Breaker(minimumThroughput: 10), HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/orders"));
    }

    [Fact]
    public async Task A_slow_response_times_out_with_a_timeout_exception_and_the_retry_tries_again()
    {
        // The timeout runs on a fake clock, advanced once the server holds the request: no race with the network.
        await using var server = await LoopbackServer.StartAsync((context, n) => n > 2 ? LoopbackServer.Status(context, 200, "ok") : LoopbackServer.Slow(context));
        var time = new FakeTimeProvider();
        var timeout = new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time };

        var timeoutOnly = new ResiliencePipelineBuilder<HttpResponseMessage>().AddTimeout(timeout).Build();
        using (var client = Client(new ResilienceHandler(timeoutOnly), server))
        {
            var sending = client.GetAsync("/slow");
            await server.WaitForRequestAsync();
            time.Advance(TimeSpan.FromSeconds(2));
            await Assert.ThrowsAsync<TimeoutRejectedException>(() => sending);
        }

        var retried = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(1), HttpOutcomes.IsTransientFailure)
            .AddTimeout(timeout)
            .Build();
        using var retryingClient = Client(new ResilienceHandler(retried), server);
        var retrying = retryingClient.GetAsync("/flaky");
        await server.WaitForRequestAsync();
        time.Advance(TimeSpan.FromSeconds(2));
        using var response = await retrying;

        // Request 2 (the first attempt) timed out; request 3, the retry, succeeded.
        Assert.Equal("ok", await response.Content.ReadAsStringAsync());
        Assert.Equal(3, server.Requests);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_pipeline_timeout_shorter_than_HttpClient_timeout_is_a_timeout_exception_and_one_failure_for_the_breaker(bool breakerOutside)
    {
        // HttpClient's own deadline (its default, 100 seconds) is far off: the pipeline's timeout ends the attempt, and a
        // breaker on either side of it counts the timed-out attempt as the dependency's failure.
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Slow(context));
        var time = new FakeTimeProvider();
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 10));
        var timeout = new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time };
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();
        var pipeline = breakerOutside
            ? builder.AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure).AddTimeout(timeout).Build()
            : builder.AddTimeout(timeout).AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure).Build();
        using var client = Client(new ResilienceHandler(pipeline), server);

        var sending = client.GetAsync("/slow");
        await server.WaitForRequestAsync();
        time.Advance(TimeSpan.FromSeconds(2));

        await Assert.ThrowsAsync<TimeoutRejectedException>(() => sending.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal((1L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task A_body_streamed_after_the_pipeline_returned_is_neither_cut_by_its_timeout_nor_by_a_later_calls()
    {
        // Headers first, then the rest of the body once the test lets it go: the pipeline has returned in between.
        var rest = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async (context, n) =>
        {
            if (n > 1)
            {
                await LoopbackServer.Slow(context);
                return;
            }

            context.Response.StatusCode = 200;
            await context.Response.Body.WriteAsync("first "u8.ToArray(), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            await rest.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await context.Response.Body.WriteAsync("second"u8.ToArray(), context.RequestAborted);
        });
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time })
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);

        using var response = await client.GetAsync("/stream", HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsStreamAsync();

        // The first call's timeout passes, and a second call through the same timeout times out.
        time.Advance(TimeSpan.FromSeconds(2));
        var second = client.GetAsync("/slow");
        await server.WaitForRequestAsync();
        await server.WaitForRequestAsync();
        time.Advance(TimeSpan.FromSeconds(2));
        await Assert.ThrowsAsync<TimeoutRejectedException>(() => second);

        rest.SetResult();
        using var reader = new StreamReader(body);
        Assert.Equal("first second", await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Retried_server_errors_give_their_connection_back_so_one_connection_per_server_serves_every_attempt(bool synchronous)
    {
        // Each 503 has a body too large to have been read with its headers: a response kept undisposed would hold the one
        // connection, and the next attempt would wait for it for ever.
        var large = new string('x', 1_000_000);
        await using var server = await LoopbackServer.StartAsync((context, n) => n % 4 == 0 ? LoopbackServer.Status(context, 200, "ok") : LoopbackServer.Status(context, 503, large));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(3), HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server, new SocketsHttpHandler { MaxConnectionsPerServer = 1 });

        for (var call = 1; call <= 3; call++)
        {
            using var response = synchronous
                ? await Task.Run(() => client.Send(new HttpRequestMessage(HttpMethod.Get, "/orders"), HttpCompletionOption.ResponseHeadersRead)).WaitAsync(TimeSpan.FromSeconds(30))
                : await client.GetAsync("/orders", HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(4 * call, server.Requests);
        }
    }

    [Fact]
    public async Task Retries_over_http2_without_tls_repeat_each_attempt_with_the_requests_version_and_body()
    {
        var received = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var server = await LoopbackServer.StartAsync(
            async (context, n) =>
            {
                received.Enqueue($"{context.Request.Protocol} {await new StreamReader(context.Request.Body).ReadToEndAsync(context.RequestAborted)}");
                await LoopbackServer.Status(context, n % 3 == 0 ? 200 : 503, "answer");
            },
            Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2);
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(3), HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);
        client.DefaultRequestVersion = HttpVersion.Version20;
        client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;

        using var buffered = await client.PostAsync("/orders", new StringContent("buffered")).WaitAsync(TimeSpan.FromSeconds(30));
        using var seekable = await client.PostAsync("/orders", new StreamContent(new MemoryStream("seekable"u8.ToArray()))).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version20), (buffered.StatusCode, buffered.Version));
        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version20), (seekable.StatusCode, seekable.Version));
        Assert.Equal(
            ["HTTP/2 buffered", "HTTP/2 buffered", "HTTP/2 buffered", "HTTP/2 seekable", "HTTP/2 seekable", "HTTP/2 seekable"],
            received);
    }

    [Fact]
    public async Task A_body_that_stalls_after_its_headers_times_out_within_the_attempt_when_an_inner_handler_buffers_it()
    {
        // The first response stalls mid-body on the only connection; the inner handler reads the body with the attempt's
        // token, so the per-attempt timeout cuts it, the stalled response is disposed (its connection given back), and
        // the retry gets the whole body on that connection.
        using var headersReceived = new SemaphoreSlim(0);
        await using var server = await LoopbackServer.StartAsync((context, n) => n == 1 ? LoopbackServer.Stall(context) : LoopbackServer.Status(context, 200, "whole"));
        var time = new FakeTimeProvider();
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 10));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(1), HttpOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure)
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time })
            .Build();
        var inner = new Buffering(new HeadersReceived(headersReceived, new SocketsHttpHandler { MaxConnectionsPerServer = 1 }));
        using var client = Client(new ResilienceHandler(pipeline), server, inner);

        var sending = client.GetAsync("/orders");
        Assert.True(await headersReceived.WaitAsync(TimeSpan.FromSeconds(30)));
        time.Advance(TimeSpan.FromSeconds(2));
        using var response = await sending.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal("whole", await response.Content.ReadAsStringAsync());
        Assert.Equal(2, server.Requests);
        Assert.Equal((2L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task Caller_cancellation_is_thrown_as_cancellation_and_never_counted_as_a_failure()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Slow(context));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 1));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(3), HttpOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);
        using var cancellation = new CancellationTokenSource();

        var sending = client.GetAsync("/slow", cancellation.Token);
        await server.WaitForRequestAsync();
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sending);
        Assert.Equal(1, server.Requests);
        Assert.Equal((CircuitState.Closed, 0L), (breaker.State, breaker.GetSnapshot().Failures));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task HttpClient_timeout_ends_the_whole_call_as_the_callers_cancellation_never_as_a_failure(bool synchronous)
    {
        // HttpClient's own deadline cancels the token it hands the handler: to the pipeline, the caller's token. A
        // pipeline timeout inside (a minute, on a clock nobody advances) does not claim it.
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Slow(context));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 1));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = new FakeTimeProvider() }
            .AddRetry(ImmediateRetries(3), HttpOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure)
            .AddTimeout(TimeSpan.FromMinutes(1))
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);
        client.Timeout = TimeSpan.FromMilliseconds(200);

        var timedOut = synchronous
            ? Assert.Throws<TaskCanceledException>(() => client.Send(new HttpRequestMessage(HttpMethod.Get, "/slow")))
            : await Assert.ThrowsAsync<TaskCanceledException>(() => client.GetAsync("/slow"));

        Assert.IsType<TimeoutException>(timedOut.InnerException);
        Assert.Equal(1, server.Requests);
        Assert.Equal((CircuitState.Closed, 0L, 0L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task Responses_of_retried_attempts_are_disposed_and_the_last_one_is_returned()
    {
        await using var server = await LoopbackServer.StartAsync((context, n) => LoopbackServer.Status(context, n <= 2 ? 503 : 200, $"attempt {n}"));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(3), HttpOutcomes.IsTransientFailure)
            .Build();
        var seen = new SeenResponses();
        using var client = Client(new ResilienceHandler(pipeline), server, seen);

        using var response = await client.GetAsync("/orders");

        Assert.Equal(3, seen.Responses.Count);
        Assert.Same(seen.Responses[2], response);
        Assert.Equal("attempt 3", await response.Content.ReadAsStringAsync());
        foreach (var superseded in seen.Responses.Take(2))
        {
            await Assert.ThrowsAsync<ObjectDisposedException>(() => superseded.Content.ReadAsStringAsync());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Every_response_that_never_reaches_the_caller_is_disposed_once_and_the_one_that_does_never(bool synchronous)
    {
        // /recover answers 503 twice, then 200; /down always 503.
        var recovering = 0;
        await using var server = await LoopbackServer.StartAsync((context, _) =>
            LoopbackServer.Status(context, context.Request.Path == "/recover" && Interlocked.Increment(ref recovering) > 2 ? 200 : 503, "body"));
        var time = new TimerWatchingTimeProvider(DateTimeOffset.UnixEpoch);
        var fallback = new FallbackOptions<HttpResponseMessage>();
        fallback.Levels.Add(FallbackLevel<HttpResponseMessage>.FromFactory("cached", _ => new HttpResponseMessage(HttpStatusCode.OK)));
        var immediate = new ResiliencePipelineBuilder<HttpResponseMessage>().AddRetry(ImmediateRetries(2), HttpOutcomes.IsTransientFailure).Build();
        var fallingBack = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddFallback(fallback, HttpOutcomes.IsTransientFailure)
            .AddRetry(ImmediateRetries(2), HttpOutcomes.IsTransientFailure)
            .Build();
        var waiting = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 2, Delay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), UseJitter = false }, HttpOutcomes.IsTransientFailure)
            .Build();

        async Task<(HttpResponseMessage Response, int[] Disposals)> Send(ResiliencePipeline<HttpResponseMessage> pipeline, string path, CancellationToken cancellationToken = default)
        {
            var seen = new SeenResponses();
            using var client = Client(new ResilienceHandler(pipeline), server, seen);
            var response = synchronous
                ? await Task.Run(() => client.Send(new HttpRequestMessage(HttpMethod.Get, path), cancellationToken))
                : await client.GetAsync(path, cancellationToken);
            Assert.True(seen.Responses.Count(r => ReferenceEquals(r, response)) <= 1);
            return (response, seen.Responses.Select(r => r.Disposals).ToArray());
        }

        var (recovered, recoveredDisposals) = await Send(immediate, "/recover");
        Assert.Equal([1, 1, 0], recoveredDisposals);
        Assert.Equal("body", await recovered.Content.ReadAsStringAsync());

        var (spent, spentDisposals) = await Send(immediate, "/down");
        Assert.Equal([1, 1, 0], spentDisposals);
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "body"), (spent.StatusCode, await spent.Content.ReadAsStringAsync()));

        var (served, servedDisposals) = await Send(fallingBack, "/down");
        Assert.Equal([1, 1, 1], servedDisposals);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);

        // The caller cancels while the retry waits: the one response was disposed before the wait, and only then.
        using var cancellation = new CancellationTokenSource();
        var seenWaiting = new SeenResponses();
        using var waitingClient = Client(new ResilienceHandler(waiting), server, seenWaiting);
        var cancelled = synchronous
            ? Task.Run(() => waitingClient.Send(new HttpRequestMessage(HttpMethod.Get, "/down"), cancellation.Token))
            : waitingClient.GetAsync("/down", cancellation.Token);
        await time.TimerCreated;
        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Equal(1, Assert.Single(seenWaiting.Responses).Disposals);

        recovered.Dispose();
        spent.Dispose();
        served.Dispose();
    }

    [Fact]
    public async Task A_fallback_replaces_the_failed_response_which_is_disposed()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 503, "busy"));
        var fallback = new FallbackOptions<HttpResponseMessage>();
        fallback.Levels.Add(FallbackLevel<HttpResponseMessage>.FromFactory("cached", _ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("cached") }));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddFallback(fallback, HttpOutcomes.IsTransientFailure)
            .Build();
        var seen = new SeenResponses();
        using var client = Client(new ResilienceHandler(pipeline), server, seen);

        using var response = await client.GetAsync("/orders");

        Assert.Equal("cached", await response.Content.ReadAsStringAsync());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => Assert.Single(seen.Responses).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_pipeline_per_host_keeps_one_host_failing_from_breaking_another()
    {
        await using var failing = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 500));
        await using var healthy = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 200, "ok"));
        var pipelines = new Dictionary<string, ResiliencePipeline<HttpResponseMessage>>();
        foreach (var server in new[] { failing, healthy })
        {
            pipelines[server.Address.Authority] = new ResiliencePipelineBuilder<HttpResponseMessage>()
                .AddCircuitBreaker(Breaker(minimumThroughput: 2), HttpOutcomes.IsTransientFailure)
                .Build();
        }

        using var client = new HttpClient(new ResilienceHandler(request => pipelines[request.RequestUri!.Authority]) { InnerHandler = new SocketsHttpHandler() });
        for (var i = 0; i < 2; i++)
        {
            (await client.GetAsync(failing.Address)).Dispose();
        }

        await Assert.ThrowsAsync<BrokenCircuitException>(() => client.GetAsync(failing.Address));
        using var response = await client.GetAsync(healthy.Address);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task The_synchronous_send_runs_through_the_same_pipeline()
    {
        await using var server = await LoopbackServer.StartAsync((context, n) => LoopbackServer.Status(context, n == 1 ? 502 : 200, "ok"));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(1), HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);

        using var response = client.Send(new HttpRequestMessage(HttpMethod.Get, "/orders"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, server.Requests);
    }

    [Fact]
    public async Task A_synchronous_send_through_a_handler_that_cannot_send_synchronously_is_not_retried_nor_counted()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 200));
        var breaker = new CircuitBreaker(Breaker(minimumThroughput: 2));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(ImmediateRetries(2), HttpOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure)
            .Build();
        var asyncOnly = new AsyncOnly();
        using var client = Client(new ResilienceHandler(pipeline), server, asyncOnly);

        // The set-up's mistake reaches the caller as itself: no retry, and the breaker other callers share stays closed.
        Assert.Throws<NotSupportedException>(() => client.Send(new HttpRequestMessage(HttpMethod.Get, "/orders")));
        Assert.Equal(1, asyncOnly.Sends);
        Assert.Equal((CircuitState.Closed, 0L), (breaker.State, breaker.GetSnapshot().Failures));
        using var response = await client.GetAsync("/orders");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_retry_after_header_replaces_the_retry_delay_and_a_wait_beyond_the_cap_ends_the_retries()
    {
        await using var server = await LoopbackServer.StartAsync((context, n) =>
        {
            if (n == 2)
            {
                return LoopbackServer.Status(context, 200, "ok");
            }

            // Request 1: come back at once; request 3: come back in two minutes.
            context.Response.Headers.RetryAfter = n == 1 ? "0" : "120";
            return LoopbackServer.Status(context, 503, "busy");
        });

        // The retry's own delay is an hour on a clock nobody advances: only the header's hint lets it retry.
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = new FakeTimeProvider(), RetryAfterHint = HttpOutcomes.RetryAfterOf }
            .AddRetry(
                new RetryOptions { Delay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), UseJitter = false, MaxRetryAfter = TimeSpan.FromMinutes(1) },
                HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);

        using var retried = await client.GetAsync("/orders").WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        Assert.Equal(2, server.Requests);

        using var refused = await client.GetAsync("/orders").WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(3, server.Requests);
    }

    [Theory]
    [InlineData(429, true)]
    [InlineData(503, true)]
    [InlineData(500, false)]
    [InlineData(502, false)]
    [InlineData(408, false)]
    public async Task Only_a_429_or_a_503_retry_after_header_asks_the_retry_to_wait(int status, bool honoured)
    {
        // Every failure asks for two minutes, beyond the cap: honoured, it ends the retries with the failed response;
        // ignored, the retry's own (immediate) delay applies and the next attempt succeeds.
        await using var server = await LoopbackServer.StartAsync((context, n) =>
        {
            if (n > 1)
            {
                return LoopbackServer.Status(context, 200, "ok");
            }

            context.Response.Headers.RetryAfter = "120";
            return LoopbackServer.Status(context, status);
        });
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { RetryAfterHint = HttpOutcomes.RetryAfterOf }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false, MaxRetryAfter = TimeSpan.FromMinutes(1) }, HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);

        using var response = await client.GetAsync("/orders");

        Assert.Equal(honoured ? (HttpStatusCode)status : HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(honoured ? 1 : 2, server.Requests);
    }

    [Fact]
    public void The_retry_after_header_is_read_as_seconds_or_as_a_date()
    {
        static Outcome<HttpResponseMessage> Outcome(Action<HttpResponseMessage> set)
        {
            var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
            set(response);
            return Resilience.Outcome.FromResult(response);
        }

        Assert.Equal(TimeSpan.FromSeconds(3), HttpOutcomes.RetryAfterOf(Outcome(r => r.Headers.RetryAfter = new(TimeSpan.FromSeconds(3)))));
        Assert.Equal(TimeSpan.Zero, HttpOutcomes.RetryAfterOf(Outcome(r => r.Headers.RetryAfter = new(DateTimeOffset.UtcNow.AddDays(-1)))));
        Assert.InRange(HttpOutcomes.RetryAfterOf(Outcome(r => r.Headers.RetryAfter = new(DateTimeOffset.UtcNow.AddHours(1))))!.Value, TimeSpan.FromMinutes(59), TimeSpan.FromHours(1));
        Assert.Null(HttpOutcomes.RetryAfterOf(Outcome(_ => { })));
        Assert.Null(HttpOutcomes.RetryAfterOf(Resilience.Outcome.FromException<HttpResponseMessage>(new HttpRequestException())));
    }

    [Fact]
    public void A_retry_after_of_more_seconds_than_the_header_parser_holds_is_a_long_wait_not_no_wait()
    {
        static TimeSpan? Read(string value)
        {
            var response = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
            Assert.True(response.Headers.TryAddWithoutValidation("Retry-After", value));
            return HttpOutcomes.RetryAfterOf(Resilience.Outcome.FromResult(response));
        }

        // Any number of seconds is a valid Retry-After (RFC 9110), but the header parser holds an int: past 68 years it
        // gave no value, and a retry that should have given up retried at once.
        Assert.Equal(TimeSpan.FromSeconds(int.MaxValue), Read("2147483647"));
        Assert.Equal(TimeSpan.FromSeconds(int.MaxValue), Read("2147483648"));
        Assert.Equal(TimeSpan.FromSeconds(int.MaxValue), Read("99999999999999999999999999"));

        // What is not a number of seconds or a date asks for nothing, as before.
        Assert.Null(Read("soon"));
        Assert.Null(Read("-5"));
        Assert.Null(Read("1e9"));
        Assert.Equal(TimeSpan.Zero, Read("Mon, 01 Jan 0001 00:00:00 GMT"));
        Assert.True(Read("Fri, 31 Dec 9999 23:59:59 GMT") > TimeSpan.FromDays(365 * 7000));
    }

    [Fact]
    public void A_retry_after_date_is_read_against_the_given_clock()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2100, 1, 1, 12, 0, 0, TimeSpan.Zero));
        static Outcome<HttpResponseMessage> Asking(DateTimeOffset date)
        {
            var response = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
            response.Headers.RetryAfter = new(date);
            return Resilience.Outcome.FromResult(response);
        }

        Assert.Equal(TimeSpan.FromSeconds(90), HttpOutcomes.RetryAfterOf(Asking(time.GetUtcNow().AddSeconds(90)), time));
        Assert.Equal(TimeSpan.Zero, HttpOutcomes.RetryAfterOf(Asking(time.GetUtcNow().AddDays(-1)), time));
        time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(TimeSpan.FromSeconds(30), HttpOutcomes.RetryAfterOf(Asking(new DateTimeOffset(2100, 1, 1, 12, 1, 30, TimeSpan.Zero)), time));
        Assert.Equal(TimeSpan.FromSeconds(3), HttpOutcomes.RetryAfterOf(Resilience.Outcome.FromResult(new HttpResponseMessage(HttpStatusCode.TooManyRequests) { Headers = { RetryAfter = new(TimeSpan.FromSeconds(3)) } }), time));
    }

    [Fact]
    public async Task A_retry_after_date_of_a_response_without_a_date_waits_on_the_pipelines_clock()
    {
        // The fake clock stands in 2100: against the system clock the date is decades away, beyond the cap, and the
        // retries would end with the 503; against the pipeline's clock it is thirty seconds away. The response reaches
        // the pipeline without a Date header (Kestrel always sends one, on the system clock: a handler removes it).
        var time = new TimerWatchingTimeProvider(new DateTimeOffset(2100, 1, 1, 12, 0, 0, TimeSpan.Zero));
        await using var server = await LoopbackServer.StartAsync((context, n) =>
        {
            if (n > 1)
            {
                return LoopbackServer.Status(context, 200, "ok");
            }

            context.Response.Headers.RetryAfter = time.GetUtcNow().AddSeconds(30).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            return LoopbackServer.Status(context, 503, "busy");
        });
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time, RetryAfterHint = outcome => HttpOutcomes.RetryAfterOf(outcome, time) }
            .AddRetry(
                new RetryOptions { Delay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), UseJitter = false, MaxRetryAfter = TimeSpan.FromMinutes(1) },
                HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server, new WithoutDate());

        var sending = client.GetAsync("/orders");
        await Task.WhenAny(time.TimerCreated, sending);
        Assert.True(time.TimerCreated.IsCompleted, "the retry did not wait: the call ended first");
        Assert.Equal(TimeSpan.FromSeconds(30), await time.TimerCreated);
        time.Advance(TimeSpan.FromSeconds(30));

        using var response = await sending;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, server.Requests);
    }

    [Theory]
    [InlineData(-36)]
    [InlineData(36)]
    public async Task A_retry_after_date_is_read_against_the_responses_own_date_whatever_the_clients_clock(int clientSkewHours)
    {
        // The server's clock and the client's are a day and a half apart. Against the client's clock the date is either
        // a day and a half away (beyond the cap: the retries would end with the 503) or long past (a retry at once, the
        // server's request ignored); against the response's own Date it is thirty seconds away, as the server asked.
        var serverNow = new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);
        var time = new TimerWatchingTimeProvider(serverNow.AddHours(clientSkewHours));
        await using var server = await LoopbackServer.StartAsync((context, n) =>
        {
            if (n > 1)
            {
                return LoopbackServer.Status(context, 200, "ok");
            }

            context.Response.Headers.Date = serverNow.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            context.Response.Headers.RetryAfter = serverNow.AddSeconds(30).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            return LoopbackServer.Status(context, 503, "busy");
        });
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time, RetryAfterHint = outcome => HttpOutcomes.RetryAfterOf(outcome, time) }
            .AddRetry(
                new RetryOptions { Delay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), UseJitter = false, MaxRetryAfter = TimeSpan.FromMinutes(1) },
                HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = Client(new ResilienceHandler(pipeline), server);

        var sending = client.GetAsync("/orders");
        await Task.WhenAny(time.TimerCreated, sending).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(time.TimerCreated.IsCompleted, "the retry did not wait: the call ended first");
        Assert.Equal(TimeSpan.FromSeconds(30), await time.TimerCreated);
        Assert.Equal(1, server.Requests);
        time.Advance(TimeSpan.FromSeconds(30));

        using var response = await sending.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, server.Requests);
    }

    [Fact]
    public void A_retry_after_date_is_read_against_the_responses_date_when_it_has_one()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2100, 1, 1, 12, 0, 0, TimeSpan.Zero));
        var serverNow = new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);
        static Outcome<HttpResponseMessage> Asking(DateTimeOffset date, DateTimeOffset? sent)
        {
            var response = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
            response.Headers.RetryAfter = new(date);
            response.Headers.Date = sent;
            return Resilience.Outcome.FromResult(response);
        }

        Assert.Equal(TimeSpan.FromSeconds(90), HttpOutcomes.RetryAfterOf(Asking(serverNow.AddSeconds(90), serverNow), time));
        Assert.Equal(TimeSpan.FromSeconds(90), HttpOutcomes.RetryAfterOf(Asking(serverNow.AddSeconds(90), serverNow)));

        // A date before the response's own is a wait of nothing, never a negative one.
        Assert.Equal(TimeSpan.Zero, HttpOutcomes.RetryAfterOf(Asking(serverNow.AddSeconds(-5), serverNow), time));

        // Without a Date header, the given clock.
        Assert.Equal(TimeSpan.FromSeconds(30), HttpOutcomes.RetryAfterOf(Asking(time.GetUtcNow().AddSeconds(30), sent: null), time));
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError, true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, true)]
    [InlineData(HttpStatusCode.RequestTimeout, true)]
    [InlineData(HttpStatusCode.TooManyRequests, true)]
    [InlineData(HttpStatusCode.OK, false)]
    [InlineData(HttpStatusCode.NotFound, false)]
    [InlineData(HttpStatusCode.BadRequest, false)]
    public void Transient_statuses_are_5xx_408_and_429(HttpStatusCode status, bool transient)
    {
        Assert.Equal(transient, HttpOutcomes.IsTransientStatus(status));
    }

    /// <summary>Reads each response's body within the attempt, so that a body cut off fails the attempt.</summary>
    [Fact]
    public async Task A_pipeline_selector_that_throws_surfaces_as_itself_and_sends_nothing()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 200, "ok"));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>().AddRetry(ImmediateRetries(1), HttpOutcomes.IsTransientFailure).Build();
        var failure = new InvalidOperationException("no pipeline for this host");
        var selectorFails = true;
        using var client = Client(new ResilienceHandler(_ => selectorFails ? throw failure : pipeline), server);

        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => client.GetAsync("/orders"));
        selectorFails = false;
        using var response = await client.GetAsync("/orders");

        Assert.Same(failure, thrown);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, server.Requests);
    }

    private sealed class Buffering(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            try
            {
                await response.Content.LoadIntoBufferAsync(cancellationToken);
                return response;
            }
            catch
            {
                response.Dispose();
                throw;
            }
        }
    }

    /// <summary>Removes each response's Date header, as a server that sends none would leave it.</summary>
    private sealed class WithoutDate() : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            response.Headers.Date = null;
            return response;
        }
    }

    /// <summary>Tells the server each time a response's headers have arrived.</summary>
    private sealed class HeadersReceived(SemaphoreSlim received, HttpMessageHandler? inner = null) : DelegatingHandler(inner ?? new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            received.Release();
            return response;
        }
    }

    /// <summary>A handler with only SendAsync, as many custom handlers are: its synchronous Send throws NotSupportedException.</summary>
    private sealed class AsyncOnly : HttpMessageHandler
    {
        private readonly HttpMessageInvoker _network = new(new SocketsHttpHandler());
        private int _sends;

        public int Sends => Volatile.Read(ref _sends);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            _network.SendAsync(request, cancellationToken);

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _sends);
            return base.Send(request, cancellationToken);
        }

        protected override void Dispose(bool disposing)
        {
            _network.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Turns an unsuccessful response into an <see cref="HttpRequestException"/> with its status, as typed clients do.</summary>
    private sealed class EnsuringSuccess() : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                response.Dispose();
                throw new HttpRequestException($"Status {(int)response.StatusCode}.", null, response.StatusCode);
            }

            return response;
        }
    }

    /// <summary>
    /// Sits between the resilience handler and the network and keeps every response it passed up, each moved into a
    /// response that counts its disposals.
    /// </summary>
    private sealed class SeenResponses : DelegatingHandler
    {
        public SeenResponses()
            : base(new SocketsHttpHandler())
        {
        }

        public List<CountedResponse> Responses { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Keep(await base.SendAsync(request, cancellationToken));

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Keep(base.Send(request, cancellationToken));

        private CountedResponse Keep(HttpResponseMessage response)
        {
            var counted = new CountedResponse(response);
            lock (Responses)
            {
                Responses.Add(counted);
            }

            return counted;
        }
    }

    internal sealed class CountedResponse : HttpResponseMessage
    {
        private int _disposals;

        public CountedResponse(HttpResponseMessage response)
            : base(response.StatusCode)
        {
            Content = response.Content;
            RequestMessage = response.RequestMessage;
        }

        public int Disposals => Volatile.Read(ref _disposals);

        protected override void Dispose(bool disposing)
        {
            Interlocked.Increment(ref _disposals);
            base.Dispose(disposing);
        }
    }
}
