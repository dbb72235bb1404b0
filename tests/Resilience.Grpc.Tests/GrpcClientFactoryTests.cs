using Grpc.Core;
using Grpc.Net.ClientFactory;
using Microsoft.Extensions.DependencyInjection;
using Resilience.DependencyInjection;

namespace Resilience.Grpc.Tests;

/// <summary>The client interceptor registered with <c>Grpc.Net.ClientFactory</c>, its pipeline served by the container.</summary>
public sealed class GrpcClientFactoryTests
{
    [Fact]
    public async Task Interceptors_created_per_client_share_one_pipeline_and_its_open_breaker()
    {
        // The factory keeps one channel per client type for the container's life; with the client scope it creates an
        // interceptor for every client it creates, each over the pipeline the container built once.
        await using var server = await GrpcTestServer.StartAsync((_, _, _) => throw GrpcTestServer.Status(StatusCode.Unavailable));
        var services = new ServiceCollection();
        services.AddResiliencePipeline("echo", (builder, _) =>
            builder.AddCircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 2, BreakDuration = TimeSpan.FromMinutes(5) }, GrpcOutcomes.IsTransientFailure));
        var interceptors = 0;
        services.AddGrpcClient<EchoClient>(options => options.Address = server.Address)
            .AddInterceptor(InterceptorScope.Client, provider =>
            {
                Interlocked.Increment(ref interceptors);
                return new ResilienceClientInterceptor(provider.GetRequiredService<ResiliencePipelineProvider>().GetPipeline("echo"));
            });
        using var container = services.BuildServiceProvider();

        for (var i = 0; i < 2; i++)
        {
            var failed = await Assert.ThrowsAsync<RpcException>(() => Call(container));
            Assert.Equal(StatusCode.Unavailable, failed.StatusCode);
        }

        // A third client, a third interceptor: the breaker the first two clients' calls opened refuses its call before it
        // reaches the server.
        var refused = await Assert.ThrowsAsync<RpcException>(() => Call(container));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.IsType<BrokenCircuitException>(refused.Status.DebugException);
        Assert.Equal((3, 2), (Volatile.Read(ref interceptors), server.Calls));
    }

    private static async Task<string> Call(IServiceProvider container)
    {
        using var call = container.GetRequiredService<EchoClient>().Invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, default, "hello");
        return await call.ResponseAsync;
    }

    /// <summary>A client of the test server's methods, created by the factory over its call invoker.</summary>
    public sealed class EchoClient(CallInvoker invoker)
    {
        public CallInvoker Invoker { get; } = invoker;
    }
}
