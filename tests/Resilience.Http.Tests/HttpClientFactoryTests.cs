using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Resilience.DependencyInjection;

namespace Resilience.Http.Tests;

/// <summary>The handler in a named client of <c>IHttpClientFactory</c>, its pipeline served (and reloaded) by the container.</summary>
public sealed class HttpClientFactoryTests
{
    private const string Retry = "Resilience:Pipelines:catalog:Retry:";

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
        services.AddResiliencePipeline<HttpResponseMessage>("catalog", (builder, context) =>
            builder.AddStrategy(context.BindRetry(), HttpOutcomes.IsTransientFailure));
        services.AddHttpClient("catalog", client => client.BaseAddress = server.Address)
            .AddHttpMessageHandler(provider => new ResilienceHandler(
                provider.GetRequiredService<ResiliencePipelineProvider>().GetPipeline<HttpResponseMessage>("catalog")));
        using var container = services.BuildServiceProvider();
        var factory = container.GetRequiredService<IHttpClientFactory>();

        using (var response = await factory.CreateClient("catalog").GetAsync("/items"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }

        Assert.Equal(2, server.Requests);

        // The factory keeps its handlers (two minutes by default): the pipeline they hold takes the new settings in place.
        configuration[Retry + "MaxRetryAttempts"] = "3";
        configuration.Reload();
        var reload = container.GetRequiredService<ResiliencePipelineProvider>().LastReload;
        Assert.True(reload is { IsApplied: true }, reload?.ToString());

        using (var response = await factory.CreateClient("catalog").GetAsync("/items"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }

        Assert.Equal(6, server.Requests);
    }

    [Fact]
    public async Task Handlers_the_factory_rotates_share_one_pipeline_and_its_open_breaker()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 503, "busy"));
        var services = new ServiceCollection();
        services.AddResiliencePipeline<HttpResponseMessage>("catalog", (builder, _) =>
            builder.AddCircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 2, BreakDuration = TimeSpan.FromMinutes(5) }, HttpOutcomes.IsTransientFailure));
        var handlers = new List<ResilienceHandler>();
        services.AddHttpClient("catalog", client => client.BaseAddress = server.Address)
            .SetHandlerLifetime(TimeSpan.FromSeconds(1))
            .AddHttpMessageHandler(provider =>
            {
                var handler = new ResilienceHandler(provider.GetRequiredService<ResiliencePipelineProvider>().GetPipeline<HttpResponseMessage>("catalog"));
                lock (handlers)
                {
                    handlers.Add(handler);
                }

                return handler;
            });
        using var container = services.BuildServiceProvider();
        var factory = container.GetRequiredService<IHttpClientFactory>();

        for (var i = 0; i < 2; i++)
        {
            using var response = await factory.CreateClient("catalog").GetAsync("/items");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }

        // The factory builds a new handler chain once the first one's lifetime has passed: wait for it, bounded.
        using var rotation = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (HandlerCount() < 2)
        {
            await Assert.ThrowsAsync<BrokenCircuitException>(() => factory.CreateClient("catalog").GetAsync("/items", rotation.Token));

            // The factory's expiry runs on its own timer (real time, a second at least): polled, within the bound above.
            await Task.Delay(TimeSpan.FromMilliseconds(50), rotation.Token);
        }

        // The new handler holds the pipeline the container built once: its breaker is still open, so the request is
        // refused before it reaches the server, as it was through the first handler.
        await Assert.ThrowsAsync<BrokenCircuitException>(() => factory.CreateClient("catalog").GetAsync("/items"));
        Assert.Equal(2, server.Requests);

        int HandlerCount()
        {
            lock (handlers)
            {
                return handlers.Count;
            }
        }
    }
}
