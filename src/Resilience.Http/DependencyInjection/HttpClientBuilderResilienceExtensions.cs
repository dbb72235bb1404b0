using Resilience;
using Resilience.DependencyInjection;
using Resilience.Http;

// In the namespace of AddHttpClient and of AddResiliencePipeline, as Microsoft's own builder extensions are: found with
// no using of ours, next to the calls they follow. Microsoft.Extensions.Http.Resilience's AddResilienceHandler lives
// there too (its class is named ResilienceHttpClientBuilderExtensions, hence this name): with both packages referenced, a
// lambda whose body binds for either builder is ambiguous, whatever namespace this class had, since both are imported.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Attaches a <see cref="ResilienceHandler"/> to a client of <c>IHttpClientFactory</c>, over a pipeline of the container.</summary>
public static class HttpClientBuilderResilienceExtensions
{
    /// <summary>
    /// Adds a <see cref="ResilienceHandler"/> to the client's handlers, sending every request through the pipeline that
    /// <see cref="ResiliencePipelineProvider.GetPipeline{T}(string)"/> serves for <paramref name="pipelineName"/>: one
    /// registered with <c>AddResiliencePipeline&lt;HttpResponseMessage&gt;</c> or declared in configuration.
    /// </summary>
    /// <remarks>
    /// The pipeline is looked up whenever the factory builds the client's handlers (at its first <c>CreateClient</c>, and
    /// after each handler rotation): a name that no pipeline has fails that <c>CreateClient</c> with the provider's
    /// <see cref="KeyNotFoundException"/>, which names it. The pipeline is the container's single instance, so its
    /// breakers and limiters keep their state across handler rotations, and a configuration reload reaches handlers
    /// already built. Adds the resilience services (<c>AddResilience()</c>) if they are not there yet.
    /// </remarks>
    /// <param name="builder">The client's builder, from <c>AddHttpClient</c>.</param>
    /// <param name="pipelineName">The pipeline's name; case-insensitive, as configuration keys are.</param>
    /// <returns>The builder.</returns>
    public static IHttpClientBuilder AddResilienceHandler(this IHttpClientBuilder builder, string pipelineName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(pipelineName);
        builder.Services.AddResilience();
        return builder.AddHttpMessageHandler(services =>
            new ResilienceHandler(services.GetRequiredService<ResiliencePipelineProvider>().GetPipeline<HttpResponseMessage>(pipelineName)));
    }

    /// <summary>
    /// Registers a pipeline of <see cref="HttpResponseMessage"/> named <paramref name="pipelineName"/>, as
    /// <c>services.AddResiliencePipeline&lt;HttpResponseMessage&gt;(pipelineName, configure)</c> does, and adds a
    /// <see cref="ResilienceHandler"/> over it to the client's handlers (see <see cref="AddResilienceHandler(IHttpClientBuilder, string)"/>).
    /// </summary>
    /// <param name="builder">The client's builder, from <c>AddHttpClient</c>.</param>
    /// <param name="pipelineName">The pipeline's name; case-insensitive, as configuration keys are.</param>
    /// <param name="configure">Adds the strategies; runs once, when the provider is created.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">A pipeline of that name (ignoring case) is already registered.</exception>
    public static IHttpClientBuilder AddResilienceHandler(
        this IHttpClientBuilder builder, string pipelineName, Action<ResiliencePipelineBuilder<HttpResponseMessage>, ResiliencePipelineContext> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddResiliencePipeline(pipelineName, configure);
        return builder.AddResilienceHandler(pipelineName);
    }
}
