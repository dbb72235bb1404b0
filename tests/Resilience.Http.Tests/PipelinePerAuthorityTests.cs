using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Resilience.DependencyInjection;

namespace Resilience.Http.Tests;

/// <summary>
/// A client's requests sent through an instance of its pipeline per authority (<c>SelectPipelineByAuthority</c>) or per
/// key of the caller's (<c>SelectPipelineBy</c>), against two real Kestrel servers on 127.0.0.1: one failing host opens
/// its own breaker and leaves the other host's alone, which a client with the pipeline's single instance does not.
/// </summary>
public sealed class PipelinePerAuthorityTests
{
    private static readonly CircuitBreakerOptions TwoFailuresOpen = new() { MinimumThroughput = 2, BreakDuration = TimeSpan.FromMinutes(5) };

    private static ServiceProvider Container(Func<IHttpClientBuilder, ResilienceHandlerBuilder> attach, IConfiguration? configuration = null)
    {
        var services = new ServiceCollection()
            .AddSingleton<TimeProvider>(new FakeTimeProvider())
            .AddSingleton(configuration ?? new ConfigurationBuilder().Build());
        attach(services.AddHttpClient("api"));
        return services.BuildServiceProvider();
    }

    private static ResilienceHandlerBuilder WithBreaker(IHttpClientBuilder client) =>
        client.AddResilienceHandler("api", (builder, context) => builder.AddCircuitBreaker(
            context.BindCircuitBreaker(configure: options =>
            {
                options.MinimumThroughput = TwoFailuresOpen.MinimumThroughput;
                options.BreakDuration = TwoFailuresOpen.BreakDuration;
            }),
            HttpOutcomes.IsTransientFailure));

    private static HttpClient Client(ServiceProvider container) => container.GetRequiredService<IHttpClientFactory>().CreateClient("api");

    private static ResiliencePipelineProvider Provider(ServiceProvider container) => container.GetRequiredService<ResiliencePipelineProvider>();

    private static Task<LoopbackServer> Failing() => LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 500, "down"));

    private static Task<LoopbackServer> Healthy() => LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 200, "up"));

    /// <summary>Two requests to the failing host (two 500s), then one more to it and one to the healthy host.</summary>
    private static async Task<(bool FailingRejected, HttpStatusCode? Healthy)> SendTraffic(HttpClient client, LoopbackServer failing, LoopbackServer healthy)
    {
        for (var i = 0; i < 2; i++)
        {
            using var response = await client.GetAsync(new Uri(failing.Address, "/items"));
            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        }

        var failingRejected = await IsRejected(client, failing);
        HttpStatusCode? healthyStatus = null;
        try
        {
            using var response = await client.GetAsync(new Uri(healthy.Address, "/items"));
            healthyStatus = response.StatusCode;
        }
        catch (BrokenCircuitException)
        {
            // Refused before it reached the healthy host.
        }

        return (failingRejected, healthyStatus);
    }

    private static async Task<bool> IsRejected(HttpClient client, LoopbackServer server)
    {
        try
        {
            using var response = await client.GetAsync(new Uri(server.Address, "/items"));
            return false;
        }
        catch (BrokenCircuitException)
        {
            return true;
        }
    }

    [Fact]
    public async Task One_failing_host_opens_its_own_breaker_and_requests_to_the_other_still_reach_it()
    {
        await using var failing = await Failing();
        await using var healthy = await Healthy();
        using var container = Container(client => WithBreaker(client).SelectPipelineByAuthority());

        var (failingRejected, healthyStatus) = await SendTraffic(Client(container), failing, healthy);

        Assert.True(failingRejected);
        Assert.Equal(2, failing.Requests);
        Assert.Equal(HttpStatusCode.OK, healthyStatus);
        Assert.Equal(1, healthy.Requests);

        // Each authority has its instance, its breaker listed under its key; the single instance took no request.
        var health = Provider(container).GetHealth();
        var keys = new[] { Key(failing), Key(healthy) }.Order(StringComparer.Ordinal).ToList();
        Assert.Equal(keys, health.Pipelines.Single(pipeline => pipeline.Name == "api").Instances);
        Assert.Equal(
            new[] { (null, CircuitState.Closed), (Key(failing), CircuitState.Open), (Key(healthy), CircuitState.Closed) }.OrderBy(pair => pair.Item1, StringComparer.Ordinal),
            health.CircuitBreakers.Select(breaker => (breaker.InstanceKey, breaker.State)));
    }

    [Fact]
    public async Task With_the_single_instance_the_same_traffic_breaks_both_hosts()
    {
        await using var failing = await Failing();
        await using var healthy = await Healthy();
        using var container = Container(WithBreaker);

        var (failingRejected, healthyStatus) = await SendTraffic(Client(container), failing, healthy);

        Assert.True(failingRejected);
        Assert.Null(healthyStatus);
        Assert.Equal(0, healthy.Requests);
        Assert.Empty(Provider(container).GetHealth().Pipelines.Single(pipeline => pipeline.Name == "api").Instances);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_standard_handler_has_a_breaker_per_authority_when_selected(bool byAuthority)
    {
        await using var failing = await Failing();
        await using var healthy = await Healthy();
        using var container = Container(client =>
        {
            var handler = client.AddStandardResilienceHandler("api", options =>
            {
                options.Retry.MaxRetryAttempts = 0;
                options.CircuitBreaker.MinimumThroughput = TwoFailuresOpen.MinimumThroughput;
            });
            return byAuthority ? handler.SelectPipelineByAuthority() : handler;
        });

        var (failingRejected, healthyStatus) = await SendTraffic(Client(container), failing, healthy);

        Assert.True(failingRejected);
        Assert.Equal(byAuthority ? HttpStatusCode.OK : null, healthyStatus);
        Assert.Equal(byAuthority ? 1 : 0, healthy.Requests);
        if (byAuthority)
        {
            // Each host's instance has its own limiter too, on the standard settings.
            var limiters = new[] { failing, healthy }
                .Select(server => Provider(container).GetPipeline<HttpResponseMessage>("api", Key(server)).Strategies.OfType<RateLimiterStrategy>().Single().Limiter)
                .ToList();
            Assert.NotSame(limiters[0], limiters[1]);
        }
    }

    [Fact]
    public async Task A_reload_reaches_every_hosts_instance_and_an_open_breaker_stays_open()
    {
        await using var failing = await Failing();
        await using var healthy = await Healthy();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection().Build();
        using var container = Container(client => WithBreaker(client).SelectPipelineByAuthority(), configuration);
        var client = Client(container);
        await SendTraffic(client, failing, healthy);

        configuration["Resilience:Pipelines:api:CircuitBreaker:FailureRatio"] = "0.9";
        configuration.Reload();

        Assert.True(Provider(container).LastReload!.IsApplied);
        var breakers = new[] { failing, healthy }
            .Select(server => Provider(container).GetPipeline<HttpResponseMessage>("api", Key(server)).Strategies.OfType<CircuitBreakerStrategy>().Single().Breaker)
            .ToList();
        Assert.All(breakers, breaker => Assert.Equal(0.9, breaker.Options.FailureRatio));
        Assert.Equal([CircuitState.Open, CircuitState.Closed], breakers.Select(breaker => breaker.State));
        Assert.True(await IsRejected(client, failing));
        Assert.Equal(2, failing.Requests);
    }

    [Fact]
    public async Task A_key_selector_picks_the_instance_per_request()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) =>
            LoopbackServer.Status(context, context.Request.Headers["X-Tenant"] == "a" ? 500 : 200));
        using var container = Container(client => WithBreaker(client).SelectPipelineBy(request => request.Headers.GetValues("X-Tenant").Single()));
        var client = Client(container);

        for (var i = 0; i < 2; i++)
        {
            using var failed = await client.SendAsync(Request(server, "a"));
            Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        }

        await Assert.ThrowsAsync<BrokenCircuitException>(() => client.SendAsync(Request(server, "a")));
        using var response = await client.SendAsync(Request(server, "b"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, server.Requests);
        Assert.Equal(["a", "b"], Provider(container).GetHealth().Pipelines.Single(pipeline => pipeline.Name == "api").Instances);

        static HttpRequestMessage Request(LoopbackServer server, string tenant) =>
            new(HttpMethod.Get, new Uri(server.Address, "/items")) { Headers = { { "X-Tenant", tenant } } };
    }

    [Fact]
    public async Task A_key_selector_that_returns_null_fails_the_request_before_it_is_sent()
    {
        await using var server = await Healthy();
        using var container = Container(client => WithBreaker(client).SelectPipelineBy(_ => null!));

        var exception = await Assert.ThrowsAsync<InvalidOperationException>(() => Client(container).GetAsync(new Uri(server.Address, "/items")));

        Assert.Contains("client 'api'", exception.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.Requests);
    }

    [Fact]
    public async Task A_request_without_a_uri_goes_through_the_single_instance()
    {
        using var container = Container(client => WithBreaker(client).SelectPipelineByAuthority());
        using var invoker = new HttpMessageInvoker(container.GetRequiredService<IHttpMessageHandlerFactory>().CreateHandler("api"), disposeHandler: false);

        // The primary handler refuses a request without a URI: a failure the single instance's breaker counts.
        await Assert.ThrowsAnyAsync<Exception>(() => invoker.SendAsync(new HttpRequestMessage(), CancellationToken.None));

        var health = Provider(container).GetHealth();
        Assert.Empty(health.Pipelines.Single(pipeline => pipeline.Name == "api").Instances);
        Assert.Equal(1, Assert.Single(health.CircuitBreakers).Window.Calls);
    }

    [Fact]
    public void The_key_of_a_known_authority_and_its_instance_are_had_without_allocating()
    {
        using var container = Container(client => WithBreaker(client).SelectPipelineByAuthority());
        var provider = Provider(container);
        var keys = new AuthorityKeys(PipelineInstanceOptions.DefaultMaxInstances);
        var requests = new[] { "http://127.0.0.1:5001/a", "https://api.example.com/b?c=d", "http://[::1]:8080/" }
            .Select(uri => new HttpRequestMessage(HttpMethod.Get, uri))
            .ToList();
        Assert.Equal(["http://127.0.0.1:5001", "https://api.example.com:443", "http://[::1]:8080"], requests.Select(keys.KeyOf));
        foreach (var request in requests)
        {
            provider.GetPipeline<HttpResponseMessage>("api", keys.KeyOf(request)!);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            provider.GetPipeline<HttpResponseMessage>("api", keys.KeyOf(requests[i % requests.Count])!);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Keys_of_hosts_that_come_after_the_cache_filled_are_kept_once_it_starts_over()
    {
        var keys = new AuthorityKeys(maxKept: 2);
        string? KeyOf(string uri) => keys.KeyOf(new HttpRequestMessage(HttpMethod.Get, uri));
        var first = KeyOf("http://a.example/");
        _ = KeyOf("http://b.example/");

        // A third host finds the cache full: it starts over with that host's key, which later requests find again.
        var third = KeyOf("http://c.example/");
        Assert.Same(third, KeyOf("http://c.example/x"));

        // A host dropped by the restart gets its key built anew, and kept.
        var again = KeyOf("http://a.example/");
        Assert.Equal(first, again);
        Assert.NotSame(first, again);
        Assert.Same(again, KeyOf("http://a.example/y"));
    }

    [Fact]
    public async Task A_request_selected_by_authority_allocates_no_more_than_one_through_the_single_instance()
    {
        var single = await AllocatedPerRequest(selectByAuthority: false);
        var byAuthority = await AllocatedPerRequest(selectByAuthority: true);

        Assert.Equal(single, byAuthority);
    }

    /// <summary>
    /// The bytes a request through the factory's handlers allocates on its thread, over an inner handler that answers at
    /// once (the whole send then completes synchronously), the request and response included.
    /// </summary>
    private static async Task<long> AllocatedPerRequest(bool selectByAuthority)
    {
        var services = new ServiceCollection();
        var handler = WithBreaker(services.AddHttpClient("api").ConfigurePrimaryHttpMessageHandler(() => new AnsweringHandler()));
        if (selectByAuthority)
        {
            handler.SelectPipelineByAuthority();
        }

        using var container = services.BuildServiceProvider();
        using var invoker = new HttpMessageInvoker(container.GetRequiredService<IHttpMessageHandlerFactory>().CreateHandler("api"));
        var uris = new[] { new Uri("http://127.0.0.1:5001/a"), new Uri("https://api.example.com/b") };
        for (var i = 0; i < 100; i++)
        {
            using var response = await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, uris[i % 2]), CancellationToken.None);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            using var response = await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, uris[i % 2]), CancellationToken.None);
        }

        return (GC.GetAllocatedBytesForCurrentThread() - before) / 1_000;
    }

    [Fact]
    public async Task One_authority_written_differently_maps_to_one_instance()
    {
        var services = new ServiceCollection();
        WithBreaker(services.AddHttpClient("api").ConfigurePrimaryHttpMessageHandler(() => new AnsweringHandler())).SelectPipelineByAuthority();
        using var container = services.BuildServiceProvider();
        var client = container.GetRequiredService<IHttpClientFactory>().CreateClient("api");
        string[] spellings =
        [
            // Case of scheme and host, the default port written or not, user information.
            "HTTP://API.Example.COM/a", "http://api.example.com:80/b", "http://user:secret@api.example.com/c", "http://other@API.EXAMPLE.COM:80/d",
            "https://api.example.com/e", "HTTPS://Api.Example.Com:443/f",

            // An internationalized host in Unicode (either case) or already in its ASCII form.
            "http://bücher.example/g", "http://BÜCHER.EXAMPLE:80/h", "http://xn--bcher-kva.example/i",

            // An IPv6 address written in full or shortened, an IPv4 address shortened or in hexadecimal.
            "http://[0:0:0:0:0:0:0:1]:8080/j", "http://[::1]:8080/k", "http://127.0.0.1/l", "http://127.1:80/m", "http://0x7f.0.0.1/n",
        ];

        foreach (var uri in spellings)
        {
            using var response = await client.GetAsync(new Uri(uri));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(
            ["http://127.0.0.1:80", "http://[::1]:8080", "http://api.example.com:80", "http://xn--bcher-kva.example:80", "https://api.example.com:443"],
            Provider(container).GetHealth().Pipelines.Single(pipeline => pipeline.Name == "api").Instances);
    }

    [Fact]
    public async Task A_relative_uri_against_the_clients_base_address_is_selected_by_that_authority()
    {
        var services = new ServiceCollection();
        WithBreaker(services.AddHttpClient("api", client => client.BaseAddress = new Uri("https://Api.Example.com/v1/"))
            .ConfigurePrimaryHttpMessageHandler(() => new AnsweringHandler())).SelectPipelineByAuthority();
        using var container = services.BuildServiceProvider();
        var client = container.GetRequiredService<IHttpClientFactory>().CreateClient("api");

        using var relative = await client.GetAsync(new Uri("items", UriKind.Relative));
        using var absolute = await client.GetAsync(new Uri("https://api.example.com:443/v1/items"));

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (relative.StatusCode, absolute.StatusCode));
        var health = Provider(container).GetHealth();
        Assert.Equal(["https://api.example.com:443"], health.Pipelines.Single(pipeline => pipeline.Name == "api").Instances);
        Assert.Equal(2, health.CircuitBreakers.Single(breaker => breaker.InstanceKey is not null).Window.Calls);
    }

    private sealed class AnsweringHandler : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
    }

    private static string Key(LoopbackServer server) => $"http://127.0.0.1:{server.Address.Port}";
}
