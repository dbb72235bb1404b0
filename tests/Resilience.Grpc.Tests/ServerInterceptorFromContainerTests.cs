using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Resilience.DependencyInjection;

namespace Resilience.Grpc.Tests;

/// <summary>The server interceptor taken from the server's container, as docs/grpc.md shows, over a pipeline served by name.</summary>
public sealed class ServerInterceptorFromContainerTests
{
    [Fact]
    public async Task An_interceptor_added_by_type_without_arguments_is_the_one_the_container_holds()
    {
        await using var server = await GrpcTestServer.StartAsync(
            (request, _, _) => Task.FromResult(request),
            options => options.Interceptors.Add<ResilienceServerInterceptor>(),
            services: services =>
            {
                // The clock never moves: the bucket's one token is not given back.
                services.AddSingleton<TimeProvider>(new FakeTimeProvider());
                services.AddResiliencePipeline("echo-server", (builder, _) =>
                    builder.AddRateLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1 }));
                services.AddSingleton(provider => new ResilienceServerInterceptor(
                    provider.GetRequiredService<ResiliencePipelineProvider>().GetPipeline("echo-server")));
            });
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = channel.CreateCallInvoker();

        using (var admitted = invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, default, "hello"))
        {
            Assert.Equal("hello", await admitted.ResponseAsync);
        }

        // Without the container's interceptor gRPC would create one it cannot (no pipeline to give it): the call that
        // finds the token spent is refused by the pipeline the container built.
        using var refused = invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, default, "hello");
        var failure = await Assert.ThrowsAsync<RpcException>(() => refused.ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, failure.StatusCode);
        Assert.Equal(1, server.Calls);
    }
}
