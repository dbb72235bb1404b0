using System.Net;

namespace Resilience.Http.Tests;

/// <summary>
/// A request whose token is cancelled before it is sent ends with the caller's cancellation, carrying the caller's token,
/// whether a limiter would queue it or has a permit free: no permit stays taken and the breaker counts nothing.
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
        using var invoker = new HttpMessageInvoker(new ResilienceHandler(pipeline) { InnerHandler = new ObservingHandler() });
        using var held = permitTaken ? limiter.AttemptAcquire(1) : null;
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://localhost/orders");

        var failure = synchronous
            ? Record.Exception(() => invoker.Send(request, caller.Token))
            : await Record.ExceptionAsync(() => invoker.SendAsync(request, caller.Token));

        Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(failure).CancellationToken);
        var statistics = limiter.GetStatistics()!;
        Assert.Equal((permitTaken ? 0L : 1L, 0L), (statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount));
        Assert.Equal((CircuitState.Closed, 0L, 0L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    /// <summary>Observes its token as a transport does: a cancelled one ends the request before it is sent.</summary>
    private sealed class ObservingHandler : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            cancellationToken.IsCancellationRequested ? Task.FromCanceled<HttpResponseMessage>(cancellationToken) : Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return new HttpResponseMessage(HttpStatusCode.OK);
        }
    }
}
