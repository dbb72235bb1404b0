using System.Net;

namespace Resilience.Http.Tests;

/// <summary>
/// A request whose token is cancelled before it is sent ends with the caller's cancellation, carrying the caller's token,
/// whether a limiter would queue it or has a permit free: nothing is sent, no permit is taken and the breaker counts nothing.
/// </summary>
public sealed class CancelledAtStartTests
{
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task A_cancelled_request_holds_nothing_and_is_counted_by_nothing(bool permitTaken, bool synchronous)
    {
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var breaker = new CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 2, BreakDuration = TimeSpan.FromMinutes(1) });
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryOptions { Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false }, HttpOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure)
            .AddRateLimiter(limiter)
            .AddTimeout(TimeSpan.FromMinutes(1))
            .Build();
        var transport = new ObservingHandler();
        using var invoker = new HttpMessageInvoker(new ResilienceHandler(pipeline) { InnerHandler = transport });
        using var held = permitTaken ? limiter.AttemptAcquire(1) : null;
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://localhost/orders");

        var failure = synchronous
            ? Record.Exception(() => invoker.Send(request, caller.Token))
            : await Record.ExceptionAsync(() => invoker.SendAsync(request, caller.Token));

        Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(failure).CancellationToken);
        Assert.Equal(0, transport.Sends);
        var statistics = limiter.GetStatistics()!;
        Assert.Equal((permitTaken ? 0L : 1L, 0L), (statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount));
        Assert.Equal((CircuitState.Closed, 0L, 0L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_request_sent_with_a_cancelled_token_reaches_no_server_and_takes_no_permit(bool synchronous)
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 200, "ok"));
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        using var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time }
            .AddRetry(new RetryOptions { Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false }, HttpOutcomes.IsTransientFailure)
            .AddRateLimiter(bucket)
            .Build();
        using var invoker = new HttpMessageInvoker(new ResilienceHandler(pipeline) { InnerHandler = new SocketsHttpHandler() });
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();

        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.Address, "/orders")))
        {
            var failure = synchronous
                ? Record.Exception(() => invoker.Send(request, caller.Token))
                : await Record.ExceptionAsync(() => invoker.SendAsync(request, caller.Token));
            Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(failure).CancellationToken);
        }

        // Nothing was sent and the bucket's one permit is still there: the next request, not cancelled, takes it.
        Assert.Equal((0, 1L), (server.Requests, bucket.GetStatistics()!.CurrentAvailablePermits));
        using var next = new HttpRequestMessage(HttpMethod.Get, new Uri(server.Address, "/orders"));
        using var response = synchronous ? invoker.Send(next, CancellationToken.None) : await invoker.SendAsync(next, CancellationToken.None);
        Assert.Equal((HttpStatusCode.OK, 1), (response.StatusCode, server.Requests));
    }

    /// <summary>Observes its token as a transport does: a cancelled one ends the request before it is sent.</summary>
    private sealed class ObservingHandler : HttpMessageHandler
    {
        public int Sends;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Sends++;
            return cancellationToken.IsCancellationRequested ? Task.FromCanceled<HttpResponseMessage>(cancellationToken) : Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        }

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Sends++;
            cancellationToken.ThrowIfCancellationRequested();
            return new HttpResponseMessage(HttpStatusCode.OK);
        }
    }
}
