using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Resilience.DependencyInjection;

namespace Resilience.Http.Tests;

/// <summary>
/// Requests that must not be repeated (<c>DisableRetriesForUnsafeHttpMethods</c>, <c>DisableRetriesFor</c>,
/// <see cref="ResilienceHandler.UnretriedMethods"/>) against a real Kestrel server on 127.0.0.1: sent once whatever
/// their outcome, while requests of other methods are retried and the breaker counts both.
/// </summary>
public sealed class UnretriedMethodsTests
{
    private static ServiceProvider Container(LoopbackServer server, Func<ResilienceHandlerBuilder, ResilienceHandlerBuilder> choose)
    {
        var services = new ServiceCollection()
            .AddSingleton<TimeProvider>(new FakeTimeProvider())
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        choose(services.AddHttpClient("api", client => client.BaseAddress = server.Address)
            .AddResilienceHandler("api", (builder, context) => builder
                .AddStrategy(
                    context.BindRetry(configure: options =>
                    {
                        options.MaxRetryAttempts = 3;
                        options.Delay = TimeSpan.Zero;
                        options.UseJitter = false;
                    }),
                    HttpOutcomes.IsTransientFailure)
                .AddCircuitBreaker(context.BindCircuitBreaker(configure: options => options.MinimumThroughput = 100), HttpOutcomes.IsTransientFailure)));
        return services.BuildServiceProvider();
    }

    private static HttpClient Client(ServiceProvider container) => container.GetRequiredService<IHttpClientFactory>().CreateClient("api");

    private static CircuitSnapshot Window(ServiceProvider container) =>
        container.GetRequiredService<ResiliencePipelineProvider>().GetPipeline<HttpResponseMessage>("api")
            .Strategies.OfType<CircuitBreakerStrategy>().Single().Breaker.GetSnapshot();

    private static Task<LoopbackServer> Busy() => LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 503, "busy"));

    /// <summary>Sends one request of <paramref name="method"/> and says how many reached the server and what came back.</summary>
    private static async Task<(int Arrived, HttpStatusCode Status)> Send(HttpClient client, LoopbackServer server, HttpMethod method)
    {
        var before = server.Requests;
        using var response = await client.SendAsync(new HttpRequestMessage(method, "/orders") { Content = method == HttpMethod.Get ? null : new StringContent("{}") });
        return (server.Requests - before, response.StatusCode);
    }

    [Fact]
    public async Task Unsafe_methods_are_sent_once_and_safe_ones_retried_and_the_breaker_counts_every_attempt()
    {
        await using var server = await Busy();
        using var container = Container(server, handler => handler.DisableRetriesForUnsafeHttpMethods());
        using var client = Client(container);

        foreach (var method in new[] { HttpMethod.Post, HttpMethod.Put, HttpMethod.Patch, HttpMethod.Delete })
        {
            Assert.Equal((1, HttpStatusCode.ServiceUnavailable), await Send(client, server, method));
        }

        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Head, HttpMethod.Options })
        {
            Assert.Equal((4, HttpStatusCode.ServiceUnavailable), await Send(client, server, method));
        }

        Assert.Equal((16L, 16L), (Window(container).Calls, Window(container).Failures));
    }

    [Fact]
    public async Task A_post_whose_connection_was_reset_is_not_sent_again_and_a_get_is()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Reset(context));
        using var container = Container(server, handler => handler.DisableRetriesForUnsafeHttpMethods());
        using var client = Client(container);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.PostAsync("/orders", new StringContent("{}")));
        Assert.Equal(1, server.Requests);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/orders"));
        Assert.Equal(5, server.Requests);
    }

    [Fact]
    public async Task Only_the_methods_named_are_sent_once_matched_by_name_ignoring_case_and_none_named_retries_them_all()
    {
        await using var server = await Busy();
        using var named = Container(server, handler => handler.DisableRetriesFor(HttpMethod.Post));
        using var client = Client(named);

        Assert.Equal((1, HttpStatusCode.ServiceUnavailable), await Send(client, server, new HttpMethod("post")));
        Assert.Equal((4, HttpStatusCode.ServiceUnavailable), await Send(client, server, HttpMethod.Put));

        using var cleared = Container(server, handler => handler.DisableRetriesForUnsafeHttpMethods().DisableRetriesFor());
        using var retrying = Client(cleared);
        Assert.Equal((4, HttpStatusCode.ServiceUnavailable), await Send(retrying, server, HttpMethod.Post));
    }

    [Fact]
    public async Task The_synchronous_send_sends_an_unsafe_request_once_too()
    {
        await using var server = await Busy();
        using var container = Container(server, handler => handler.DisableRetriesForUnsafeHttpMethods());
        using var client = Client(container);

        using var post = client.Send(new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = new StringContent("{}") });
        Assert.Equal((1, HttpStatusCode.ServiceUnavailable), (server.Requests, post.StatusCode));

        using var get = client.Send(new HttpRequestMessage(HttpMethod.Get, "/orders"));
        Assert.Equal((5, HttpStatusCode.ServiceUnavailable), (server.Requests, get.StatusCode));
    }

    [Fact]
    public async Task The_standard_handler_selected_per_authority_sends_an_unsafe_request_once()
    {
        await using var server = await Busy();
        var services = new ServiceCollection()
            .AddSingleton<TimeProvider>(new FakeTimeProvider())
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddHttpClient("api", client => client.BaseAddress = server.Address)
            .AddStandardResilienceHandler("api")
            .SelectPipelineByAuthority()
            .DisableRetriesForUnsafeHttpMethods();
        using var container = services.BuildServiceProvider();
        using var client = Client(container);

        // Were it retried, the standard retry would wait for its first delay on the fake clock, which never moves.
        var (arrived, status) = await Send(client, server, HttpMethod.Post).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal((1, HttpStatusCode.ServiceUnavailable), (arrived, status));
    }

    [Fact]
    public async Task A_handler_built_by_hand_takes_the_methods_to_send_once()
    {
        await using var server = await Busy();
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 2, Delay = TimeSpan.Zero, UseJitter = false }, HttpOutcomes.IsTransientFailure)
            .Build();
        var methods = new[] { HttpMethod.Post };
        var handler = new ResilienceHandler(pipeline) { UnretriedMethods = methods, InnerHandler = new SocketsHttpHandler() };
        using var client = new HttpClient(handler) { BaseAddress = server.Address };

        // The handler keeps its own copy, which cannot be changed through what it shows.
        methods[0] = HttpMethod.Get;
        Assert.Equal([HttpMethod.Post], handler.UnretriedMethods);
        Assert.Throws<NotSupportedException>(() => ((IList<HttpMethod>)handler.UnretriedMethods)[0] = HttpMethod.Get);

        Assert.Equal((1, HttpStatusCode.ServiceUnavailable), await Send(client, server, HttpMethod.Post));
        Assert.Equal((3, HttpStatusCode.ServiceUnavailable), await Send(client, server, HttpMethod.Get));
    }

    [Fact]
    public void Missing_methods_are_refused_where_they_are_given()
    {
        var builder = new ServiceCollection().AddHttpClient("api").AddResilienceHandler("api");

        Assert.Throws<ArgumentNullException>("methods", () => builder.DisableRetriesFor(null!));
        Assert.Throws<ArgumentNullException>("methods", () => builder.DisableRetriesFor(HttpMethod.Post, null!));
        Assert.Throws<ArgumentNullException>("value", () => new ResilienceHandler(ResiliencePipeline<HttpResponseMessage>.Empty) { UnretriedMethods = null! });
        Assert.Throws<ArgumentException>("value", () => new ResilienceHandler(ResiliencePipeline<HttpResponseMessage>.Empty) { UnretriedMethods = [HttpMethod.Post, null!] });
    }
}
