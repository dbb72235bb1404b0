using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Resilience.DependencyInjection;

namespace Resilience.Http.Tests;

/// <summary>
/// The handler attached to a named client of <c>IHttpClientFactory</c> by <c>AddResilienceHandler</c>, its pipeline served
/// (and reloaded) by the container.
/// </summary>
public sealed class HttpClientFactoryTests
{
    private const string Retry = "Resilience:Pipelines:catalog:Retry:";

    [Fact]
    public async Task A_client_attached_by_name_sends_through_the_registered_pipeline()
    {
        await using var server = await LoopbackServer.StartAsync((context, n) => LoopbackServer.Status(context, n == 1 ? 503 : 200, "items"));
        var services = new ServiceCollection();
        services.AddResiliencePipeline<HttpResponseMessage>("catalog", (builder, _) =>
            builder.AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero }, HttpOutcomes.IsTransientFailure));
        services.AddHttpClient("catalog", client => client.BaseAddress = server.Address).AddResilienceHandler("catalog");
        using var container = services.BuildServiceProvider();

        using var response = await container.GetRequiredService<IHttpClientFactory>().CreateClient("catalog").GetAsync("/items");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("items", await response.Content.ReadAsStringAsync());
        Assert.Equal(2, server.Requests);
    }

    [Fact]
    public async Task The_overload_with_strategies_registers_the_pipeline_in_the_container_and_attaches_it()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 503, "busy"));
        var services = new ServiceCollection();
        services.AddHttpClient("catalog", client => client.BaseAddress = server.Address)
            .AddResilienceHandler("catalog", (builder, _) => builder.AddCircuitBreaker(
                new CircuitBreakerOptions { MinimumThroughput = 2, BreakDuration = TimeSpan.FromMinutes(5) }, HttpOutcomes.IsTransientFailure));
        using var container = services.BuildServiceProvider();
        var factory = container.GetRequiredService<IHttpClientFactory>();

        for (var i = 0; i < 2; i++)
        {
            using var response = await factory.CreateClient("catalog").GetAsync("/items");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }

        // The breaker the two failures opened refuses the third request before it reaches the server.
        await Assert.ThrowsAsync<BrokenCircuitException>(() => factory.CreateClient("catalog").GetAsync("/items"));
        Assert.Equal(2, server.Requests);

        // Registered as AddResiliencePipeline registers it: the container serves it by name, and the name is taken.
        var breaker = Assert.Single(container.GetRequiredService<ResiliencePipelineProvider>().GetHealth().CircuitBreakers);
        Assert.Equal("catalog/CircuitBreaker", breaker.Name);
        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Throws<ArgumentException>(() => services.AddResiliencePipeline<HttpResponseMessage>("CATALOG", (_, _) => { }));
    }

    [Fact]
    public async Task A_pipeline_declared_only_in_configuration_needs_no_other_registration()
    {
        await using var server = await LoopbackServer.StartAsync((context, n) => n == 1 ? LoopbackServer.Reset(context) : LoopbackServer.Status(context, 200, "items"));
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Resilience:Pipelines:catalog:Strategies:0"] = "Retry",
                [Retry + "MaxRetryAttempts"] = "1",
                [Retry + "Delay"] = "00:00:00",
            })
            .Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddHttpClient("catalog", client => client.BaseAddress = server.Address).AddResilienceHandler("catalog");
        using var container = services.BuildServiceProvider();

        // The reset connection is an exception, which a retry declared in configuration handles.
        using var response = await container.GetRequiredService<IHttpClientFactory>().CreateClient("catalog").GetAsync("/items");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, server.Requests);
    }

    [Fact]
    public async Task An_unknown_pipeline_name_fails_the_creation_of_the_client_with_a_message_naming_it()
    {
        var services = new ServiceCollection();
        services.AddResiliencePipeline<HttpResponseMessage>("catalog", (_, _) => { });
        services.AddHttpClient("orders").AddResilienceHandler("ordres");
        using var container = services.BuildServiceProvider();

        var failure = Assert.Throws<KeyNotFoundException>(() => container.GetRequiredService<IHttpClientFactory>().CreateClient("orders"));

        Assert.Contains("No resilience pipeline is named 'ordres'", failure.Message, StringComparison.Ordinal);
        Assert.Contains("Known pipelines: catalog.", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_null_builder_or_an_empty_name_is_refused_when_the_client_is_registered()
    {
        var builder = new ServiceCollection().AddHttpClient("catalog");

        Assert.Throws<ArgumentNullException>("builder", () => ((IHttpClientBuilder)null!).AddResilienceHandler("catalog"));
        Assert.Throws<ArgumentException>("pipelineName", () => builder.AddResilienceHandler(""));
        Assert.Throws<ArgumentNullException>("pipelineName", () => builder.AddResilienceHandler(null!));
        Assert.Throws<ArgumentNullException>("configure", () => builder.AddResilienceHandler("catalog", null!));
    }

    [Fact]
    public async Task A_reload_between_requests_reaches_the_handler_the_factory_already_built()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 503, "busy"));
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                [Retry + "MaxRetryAttempts"] = "1",
                [Retry + "Delay"] = "00:00:00",
                [Retry + "UseJitter"] = "false",
            })
            .Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        var handlers = 0;
        services.AddHttpClient("catalog", client => client.BaseAddress = server.Address)
            .AddResilienceHandler("catalog", (builder, context) => builder.AddStrategy(context.BindRetry(), HttpOutcomes.IsTransientFailure))
            .AddHttpMessageHandler(() => new CountedHandler(ref handlers));
        using var container = services.BuildServiceProvider();
        var client = container.GetRequiredService<IHttpClientFactory>().CreateClient("catalog");

        using (var response = await client.GetAsync("/items"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }

        Assert.Equal(2, server.Requests);

        // The factory keeps its handlers (two minutes by default): the pipeline they hold takes the new settings in place.
        configuration[Retry + "MaxRetryAttempts"] = "3";
        configuration.Reload();
        var reload = container.GetRequiredService<ResiliencePipelineProvider>().LastReload;
        Assert.True(reload is { IsApplied: true }, reload?.ToString());

        using (var response = await client.GetAsync("/items"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }

        // The same client, the same handler chain (built once), the new retry count.
        Assert.Equal((6, 1), (server.Requests, Volatile.Read(ref handlers)));
    }

    [Fact]
    public async Task Handlers_the_factory_rotates_share_one_pipeline_and_its_open_breaker()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 503, "busy"));
        var services = new ServiceCollection();
        var handlers = 0;
        services.AddHttpClient("catalog", client => client.BaseAddress = server.Address)
            .SetHandlerLifetime(TimeSpan.FromSeconds(1))
            .AddResilienceHandler("catalog", (builder, _) => builder.AddCircuitBreaker(
                new CircuitBreakerOptions { MinimumThroughput = 2, BreakDuration = TimeSpan.FromMinutes(5) }, HttpOutcomes.IsTransientFailure))
            // The factory builds the whole chain anew on a rotation: a handler behind ours counts the chains.
            .AddHttpMessageHandler(() => new CountedHandler(ref handlers));
        using var container = services.BuildServiceProvider();
        var factory = container.GetRequiredService<IHttpClientFactory>();

        for (var i = 0; i < 2; i++)
        {
            using var response = await factory.CreateClient("catalog").GetAsync("/items");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }

        // The factory builds a new handler chain once the first one's lifetime has passed: wait for it, bounded.
        using var rotation = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (Volatile.Read(ref handlers) < 2)
        {
            await Assert.ThrowsAsync<BrokenCircuitException>(() => factory.CreateClient("catalog").GetAsync("/items", rotation.Token));

            // The factory's expiry runs on its own timer (real time, a second at least): polled, within the bound above.
            await Task.Delay(TimeSpan.FromMilliseconds(50), rotation.Token);
        }

        // The new handler holds the pipeline the container built once: its breaker is still open, so the request is
        // refused before it reaches the server, as it was through the first handler.
        await Assert.ThrowsAsync<BrokenCircuitException>(() => factory.CreateClient("catalog").GetAsync("/items"));
        Assert.Equal(2, server.Requests);
    }

    /// <summary>A handler that passes requests on and counts the handler chains the factory builds.</summary>
    private sealed class CountedHandler : DelegatingHandler
    {
        public CountedHandler(ref int count) => Interlocked.Increment(ref count);
    }
}
