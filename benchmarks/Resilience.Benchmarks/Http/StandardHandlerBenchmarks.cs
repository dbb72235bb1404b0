using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.DependencyInjection;

namespace Resilience.Benchmarks.Http;

/// <summary>
/// The standard handlers as a user gets them from <c>IHttpClientFactory</c>, with their defaults: ours
/// (<c>AddStandardResilienceHandler("name")</c>) and Microsoft.Extensions.Http.Resilience's
/// (<c>AddStandardResilienceHandler()</c>), each a concurrency limiter, a total timeout, a retry, a circuit breaker and an
/// attempt timeout, over an inner handler that answers at once. A bare factory client is the floor both stand on.
/// The "per authority" rows select a pipeline instance per host (<c>SelectPipelineByAuthority()</c> on both), for
/// requests to four hosts in turn: each host has its own breaker and limiter, found again on every request.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class StandardHandlerBenchmarks
{
    private static readonly Uri Address = new("http://127.0.0.1/items/42");
    private static readonly Uri[] Hosts =
    [
        new("http://10.0.0.1/items/42"), new("http://10.0.0.2:8080/items/42"), new("https://api.example.test/items/42"), new("https://cdn.example.test/items/42"),
    ];

    private int _next;
    private ServiceProvider _services = null!;
    private HttpClient _bare = null!;
    private HttpClient _ours = null!;
    private HttpClient _peer = null!;
    private HttpClient _oursKeyed = null!;
    private HttpClient _peerKeyed = null!;

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("bare").ConfigurePrimaryHttpMessageHandler(() => new AnsweringHandler());
        HttpClientBuilderResilienceExtensions.AddStandardResilienceHandler(services.AddHttpClient("ours"), "ours")
            .ConfigurePrimaryHttpMessageHandler(() => new AnsweringHandler());
        ResilienceHttpClientBuilderExtensions.AddStandardResilienceHandler(
            services.AddHttpClient("peer").ConfigurePrimaryHttpMessageHandler(() => new AnsweringHandler()));
        HttpClientBuilderResilienceExtensions.AddStandardResilienceHandler(services.AddHttpClient("ours-keyed"), "ours-keyed")
            .SelectPipelineByAuthority()
            .ConfigurePrimaryHttpMessageHandler(() => new AnsweringHandler());
        Microsoft.Extensions.Http.Resilience.HttpStandardResiliencePipelineBuilderExtensions.SelectPipelineByAuthority(
            ResilienceHttpClientBuilderExtensions.AddStandardResilienceHandler(
                services.AddHttpClient("peer-keyed").ConfigurePrimaryHttpMessageHandler(() => new AnsweringHandler())));
        _services = services.BuildServiceProvider();
        var factory = _services.GetRequiredService<IHttpClientFactory>();
        _bare = factory.CreateClient("bare");
        _ours = factory.CreateClient("ours");
        _peer = factory.CreateClient("peer");
        _oursKeyed = factory.CreateClient("ours-keyed");
        _peerKeyed = factory.CreateClient("peer-keyed");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bare.Dispose();
        _ours.Dispose();
        _peer.Dispose();
        _oursKeyed.Dispose();
        _peerKeyed.Dispose();
        _services.Dispose();
    }

    [Benchmark, BenchmarkCategory("send")]
    public HttpResponseMessage Bare_factory_client() => Send(_bare);

    [Benchmark(Baseline = true), BenchmarkCategory("send")]
    public HttpResponseMessage Polly_standard_resilience_handler() => Send(_peer);

    [Benchmark, BenchmarkCategory("send")]
    public HttpResponseMessage Ours_standard_resilience_handler() => Send(_ours);

    [Benchmark, BenchmarkCategory("per authority")]
    public HttpResponseMessage Bare_factory_client_four_hosts() => Send(_bare, NextHost());

    [Benchmark(Baseline = true), BenchmarkCategory("per authority")]
    public HttpResponseMessage Polly_standard_resilience_handler_per_authority() => Send(_peerKeyed, NextHost());

    [Benchmark, BenchmarkCategory("per authority")]
    public HttpResponseMessage Ours_standard_resilience_handler_per_authority() => Send(_oursKeyed, NextHost());

    // A request per call, as HttpClient callers make them.
    private static HttpResponseMessage Send(HttpClient client, Uri? address = null) =>
        client.SendAsync(new HttpRequestMessage(HttpMethod.Get, address ?? Address), CancellationToken.None).GetAwaiter().GetResult();

    private Uri NextHost() => Hosts[_next++ & 3];
}
