using System.Net;
using Resilience.Tests.Cancellation;

namespace Resilience.Http.Tests;

/// <summary>
/// A long-lived token (a host's shutdown token, never cancelled) passed to every request: whatever a request registers on
/// it must be gone when the request ends, or the token's list grows for ever.
/// </summary>
public sealed class RegistrationLeakTests : IDisposable
{
    private const int Requests = 1000;

    private readonly CancellationTokenSource _host = new();

    public void Dispose() => _host.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Retried_requests_under_a_timeout_leave_nothing(bool synchronous)
    {
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false }, HttpOutcomes.IsTransientFailure)
            .AddTimeout(TimeSpan.FromMinutes(1))
            .Build();
        using var invoker = new HttpMessageInvoker(new ResilienceHandler(pipeline) { InnerHandler = new FailingEveryOtherTime() });

        for (var i = 0; i < Requests; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "http://localhost/orders");
            using var response = synchronous ? invoker.Send(request, _host.Token) : await invoker.SendAsync(request, _host.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    /// <summary>Answers 503, then 200, then 503, ...: every request is retried once.</summary>
    private sealed class FailingEveryOtherTime : HttpMessageHandler
    {
        private int _requests;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(Send(request, cancellationToken));

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
            new(++_requests % 2 == 1 ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK);
    }
}
