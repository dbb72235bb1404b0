using Grpc.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Resilience.DependencyInjection;

namespace Resilience.Grpc.Tests;

/// <summary>
/// The client interceptor attached to a client of <c>Grpc.Net.ClientFactory</c> by <c>AddResilienceInterceptor</c>, its
/// pipeline served (and reloaded) by the container.
/// </summary>
public sealed class GrpcClientFactoryTests
{
    private const string Retry = "Resilience:Pipelines:echo:Retry:";

    [Fact]
    public async Task A_client_attached_by_name_calls_through_the_registered_pipeline()
    {
        await using var server = await GrpcTestServer.StartAsync((request, _, n) =>
            n == 1 ? throw GrpcTestServer.Status(StatusCode.Unavailable) : Task.FromResult(request + "!"));
        var services = new ServiceCollection();
        services.AddResiliencePipeline("echo", (builder, _) =>
            builder.AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero }, GrpcOutcomes.IsTransientFailure));
        services.AddGrpcClient<EchoClient>(options => options.Address = server.Address).AddResilienceInterceptor("echo");
        using var container = services.BuildServiceProvider();

        Assert.Equal("hello!", await Call(container.GetRequiredService<EchoClient>()));
        Assert.Equal(2, server.Calls);
    }

    [Fact]
    public async Task Clients_share_one_pipeline_and_its_open_breaker()
    {
        await using var server = await GrpcTestServer.StartAsync((_, _, _) => throw GrpcTestServer.Status(StatusCode.Unavailable));
        var services = new ServiceCollection();
        services.AddResiliencePipeline("echo", (builder, _) =>
            builder.AddCircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 2, BreakDuration = TimeSpan.FromMinutes(5) }, GrpcOutcomes.IsTransientFailure));
        services.AddGrpcClient<EchoClient>(options => options.Address = server.Address).AddResilienceInterceptor("echo");
        using var container = services.BuildServiceProvider();

        for (var i = 0; i < 2; i++)
        {
            var failed = await Assert.ThrowsAsync<RpcException>(() => Call(container.GetRequiredService<EchoClient>()));
            Assert.Equal(StatusCode.Unavailable, failed.StatusCode);
        }

        // A third client: the breaker the first two clients' calls opened refuses its call before it reaches the server.
        var refused = await Assert.ThrowsAsync<RpcException>(() => Call(container.GetRequiredService<EchoClient>()));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.IsType<BrokenCircuitException>(refused.Status.DebugException);
        Assert.Equal(2, server.Calls);
    }

    [Fact]
    public async Task A_reload_between_calls_reaches_the_client_already_created()
    {
        await using var server = await GrpcTestServer.StartAsync((_, _, _) => throw GrpcTestServer.Status(StatusCode.Unavailable));
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Resilience:Pipelines:echo:Strategies:0"] = "Retry",
                [Retry + "MaxRetryAttempts"] = "1",
                [Retry + "Delay"] = "00:00:00",
            })
            .Build();

        // Declared in configuration only: the interceptor's registration adds the resilience services that read it.
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddGrpcClient<EchoClient>(options => options.Address = server.Address).AddResilienceInterceptor("echo");
        using var container = services.BuildServiceProvider();
        var client = container.GetRequiredService<EchoClient>();

        Assert.Equal(StatusCode.Unavailable, (await Assert.ThrowsAsync<RpcException>(() => Call(client))).StatusCode);
        Assert.Equal(2, server.Calls);

        configuration[Retry + "MaxRetryAttempts"] = "3";
        configuration.Reload();
        var reload = container.GetRequiredService<ResiliencePipelineProvider>().LastReload;
        Assert.True(reload is { IsApplied: true }, reload?.ToString());

        // The same client, the same interceptor: the retry count it goes through is the new one.
        Assert.Equal(StatusCode.Unavailable, (await Assert.ThrowsAsync<RpcException>(() => Call(client))).StatusCode);
        Assert.Equal(6, server.Calls);
    }

    [Fact]
    public void An_unknown_pipeline_name_fails_the_creation_of_the_client_with_a_message_naming_it()
    {
        var services = new ServiceCollection();
        services.AddResiliencePipeline("echo", (_, _) => { });
        services.AddGrpcClient<EchoClient>(options => options.Address = new Uri("http://127.0.0.1:1")).AddResilienceInterceptor("ecno");
        using var container = services.BuildServiceProvider();

        var failure = Assert.Throws<KeyNotFoundException>(container.GetRequiredService<EchoClient>);

        Assert.Contains("No resilience pipeline is named 'ecno'", failure.Message, StringComparison.Ordinal);
        Assert.Contains("Known pipelines: echo.", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_typed_pipeline_of_that_name_fails_the_creation_of_the_client_saying_an_untyped_one_is_needed()
    {
        var services = new ServiceCollection();
        services.AddResiliencePipeline<string>("echo", (_, _) => { });
        services.AddGrpcClient<EchoClient>(options => options.Address = new Uri("http://127.0.0.1:1")).AddResilienceInterceptor("echo");
        using var container = services.BuildServiceProvider();

        var failure = Assert.Throws<InvalidOperationException>(container.GetRequiredService<EchoClient>);

        Assert.Equal("Pipeline 'echo' is registered as a ResiliencePipeline<String>; it was asked for as a ResiliencePipeline.", failure.Message);
    }

    [Fact]
    public void A_null_builder_an_empty_name_or_a_builder_not_of_a_grpc_client_is_refused_when_the_client_is_registered()
    {
        var services = new ServiceCollection();
        var builder = services.AddGrpcClient<EchoClient>();

        Assert.Throws<ArgumentNullException>("builder", () => ((IHttpClientBuilder)null!).AddResilienceInterceptor("echo"));
        Assert.Throws<ArgumentException>("pipelineName", () => builder.AddResilienceInterceptor(""));
        Assert.Throws<ArgumentNullException>("pipelineName", () => builder.AddResilienceInterceptor(null!));

        // Grpc.Net.ClientFactory's own check: an interceptor means nothing to a plain HttpClient.
        Assert.Throws<InvalidOperationException>(() => services.AddHttpClient("plain").AddResilienceInterceptor("echo"));
    }

    private static async Task<string> Call(EchoClient client)
    {
        using var call = client.Invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, default, "hello");
        return await call.ResponseAsync;
    }

    /// <summary>A client of the test server's methods, created by the factory over its call invoker.</summary>
    public sealed class EchoClient(CallInvoker invoker)
    {
        public CallInvoker Invoker { get; } = invoker;
    }
}
