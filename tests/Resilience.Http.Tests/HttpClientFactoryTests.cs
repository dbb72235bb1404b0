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
}
