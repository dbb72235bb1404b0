using Grpc.Net.ClientFactory;
using Resilience.DependencyInjection;
using Resilience.Grpc;

// In the namespace of AddGrpcClient and AddInterceptor, as their own extensions are: found with no using of ours.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Attaches a <see cref="ResilienceClientInterceptor"/> to a client of <c>Grpc.Net.ClientFactory</c>, over a pipeline of the container.</summary>
public static class GrpcClientBuilderResilienceExtensions
{
    /// <summary>
    /// Adds a <see cref="ResilienceClientInterceptor"/> to a gRPC client registered with <c>AddGrpcClient</c>, running its
    /// calls through the untyped pipeline that <see cref="ResiliencePipelineProvider.GetPipeline(string)"/> serves for
    /// <paramref name="pipelineName"/>: one registered with <c>AddResiliencePipeline</c> or declared in configuration.
    /// </summary>
    /// <remarks>
    /// The interceptor is created with the client's channel, once for the channels the factory keeps: a name that no
    /// pipeline has fails the creation of the client with the provider's <see cref="KeyNotFoundException"/>, which names
    /// it. The pipeline is the container's single instance, so every client shares its breakers, limiters and their
    /// state, and a configuration reload reaches clients already created. Adds the resilience services
    /// (<c>AddResilience()</c>) if they are not there yet.
    /// </remarks>
    /// <param name="builder">The client's builder, from <c>AddGrpcClient</c>.</param>
    /// <param name="pipelineName">The pipeline's name; case-insensitive, as configuration keys are.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="InvalidOperationException">The builder is not a gRPC client's (from Grpc.Net.ClientFactory).</exception>
    public static IHttpClientBuilder AddResilienceInterceptor(this IHttpClientBuilder builder, string pipelineName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(pipelineName);
        builder.Services.AddResilience();

        // The channel's scope: the interceptor keeps nothing per call or per client (each call's state lives in objects of
        // that call), only its pipeline, which is the container's single instance anyway. One interceptor per channel
        // spares a lookup and an allocation per client created (clients are transient, often one per request).
        return builder.AddInterceptor(InterceptorScope.Channel, services =>
            new ResilienceClientInterceptor(services.GetRequiredService<ResiliencePipelineProvider>().GetPipeline(pipelineName)));
    }
}
