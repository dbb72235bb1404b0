using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.DependencyInjection;

namespace Resilience.Benchmarks.Http;

/// <summary>
/// The standard handlers as a user gets them from <c>IHttpClientFactory</c>, with their defaults: ours
/// (<c>AddStandardResilienceHandler("name")</c>) and Microsoft.Extensions.Http.Resilience's
/// (<c>AddStandardResilienceHandler()</c>), each a concurrency limiter, a total timeout, a retry, a circuit breaker and an
/// attempt timeout, over an inner handler that answers at once. A bare factory client is the floor both stand on.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class StandardHandlerBenchmarks
{
    private static readonly Uri Address = new("http://127.0.0.1/items/42");
    private ServiceProvider _services = null!;
    private HttpClient _bare = null!;
    private HttpClient _ours = null!;
    private HttpClient _peer = null!;

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("bare").ConfigurePrimaryHttpMessageHandler(() => new AnsweringHandler());
        HttpClientBuilderResilienceExtensions.AddStandardResilienceHandler(services.AddHttpClient("ours"), "ours")
            .ConfigurePrimaryHttpMessageHandler(() => new AnsweringHandler());
        ResilienceHttpClientBuilderExtensions.AddStandardResilienceHandler(
            services.AddHttpClient("peer").ConfigurePrimaryHttpMessageHandler(() => new AnsweringHandler()));
        _services = services.BuildServiceProvider();
        var factory = _services.GetRequiredService<IHttpClientFactory>();
        _bare = factory.CreateClient("bare");
        _ours = factory.CreateClient("ours");
        _peer = factory.CreateClient("peer");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bare.Dispose();
        _ours.Dispose();
        _peer.Dispose();
        _services.Dispose();
    }

    [Benchmark, BenchmarkCategory("send")]
    public HttpResponseMessage Bare_factory_client() => Send(_bare);

    [Benchmark(Baseline = true), BenchmarkCategory("send")]
    public HttpResponseMessage Polly_standard_resilience_handler() => Send(_peer);

    [Benchmark, BenchmarkCategory("send")]
    public HttpResponseMessage Ours_standard_resilience_handler() => Send(_ours);

    // A request per call, as HttpClient callers make them.
    private static HttpResponseMessage Send(HttpClient client) =>
        client.SendAsync(new HttpRequestMessage(HttpMethod.Get, Address), CancellationToken.None).GetAwaiter().GetResult();
}
