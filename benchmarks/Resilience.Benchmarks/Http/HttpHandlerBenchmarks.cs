using System.Net;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Resilience.Http;

namespace Resilience.Benchmarks.Http;

/// <summary>
/// The cost an HTTP adapter adds to a request: a retry, a circuit breaker and a timeout around an inner handler that
/// answers at once (no network), through our <see cref="ResilienceHandler"/> and through Microsoft.Extensions.Http.Resilience's
/// handler over Polly v8 with the same strategies. The bare inner handler is the floor both stand on.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class HttpHandlerBenchmarks
{
    private static readonly Uri Address = new("http://127.0.0.1/items/42");
    private HttpMessageInvoker _bare = null!;
    private HttpMessageInvoker _ours = null!;
    private HttpMessageInvoker _peer = null!;

    [GlobalSetup]
    public void Setup()
    {
        _bare = new HttpMessageInvoker(new AnsweringHandler());

        var ours = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 2, Delay = TimeSpan.Zero, UseJitter = false }, HttpOutcomes.IsTransientFailure)
            .AddCircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 100 }, HttpOutcomes.IsTransientFailure)
            .AddTimeout(TimeSpan.FromSeconds(10))
            .Build();
        _ours = new HttpMessageInvoker(new ResilienceHandler(ours) { InnerHandler = new AnsweringHandler() });

        var transient = new PredicateBuilder<HttpResponseMessage>()
            .Handle<HttpRequestException>()
            .HandleResult(static response => (int)response.StatusCode >= 500 || response.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests);
        var polly = new global::Polly.ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage> { MaxRetryAttempts = 2, Delay = TimeSpan.Zero, ShouldHandle = transient })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage> { MinimumThroughput = 100, ShouldHandle = transient })
            .AddTimeout(TimeSpan.FromSeconds(10))
            .Build();
        _peer = new HttpMessageInvoker(new Microsoft.Extensions.Http.Resilience.ResilienceHandler(polly) { InnerHandler = new AnsweringHandler() });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bare.Dispose();
        _ours.Dispose();
        _peer.Dispose();
    }

    [Benchmark, BenchmarkCategory("send")]
    public HttpResponseMessage Bare_inner_handler() => Send(_bare);

    [Benchmark(Baseline = true), BenchmarkCategory("send")]
    public HttpResponseMessage Polly_http_resilience_handler() => Send(_peer);

    [Benchmark, BenchmarkCategory("send")]
    public HttpResponseMessage Ours_resilience_handler() => Send(_ours);

    // A request per call, as HttpClient callers make them: what a handler reads or sets on a fresh request is measured.
    private static HttpResponseMessage Send(HttpMessageInvoker invoker) =>
        invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, Address), CancellationToken.None).GetAwaiter().GetResult();
}
