using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Resilience;
using Resilience.Configuration;
using Resilience.DependencyInjection;
using Resilience.Telemetry;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers resilience pipelines, shared instances, their settings and telemetry in a container.</summary>
public static class ResilienceServiceCollectionExtensions
{
    /// <summary>
    /// Adds the <see cref="ResiliencePipelineProvider"/> and the <see cref="ResilienceTelemetry"/> (from the container's
    /// <see cref="IMeterFactory"/> and <see cref="ILoggerFactory"/> when registered). Settings are read from the section
    /// <c>Resilience</c> of the container's <see cref="IConfiguration"/> (or the one given to
    /// <see cref="ResilienceBuilder.BindConfiguration"/>) and checked when the host starts. Calling it again adds nothing.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns>A builder for shared instances and pipelines.</returns>
    public static ResilienceBuilder AddResilience(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(descriptor => descriptor.ServiceType == typeof(ResiliencePipelineProvider)))
        {
            return new ResilienceBuilder(services);
        }

        services.TryAddSingleton(static provider => new ResilienceTelemetry(provider.GetService<IMeterFactory>(), provider.GetService<ILoggerFactory>()));
        services.TryAddSingleton(static provider => new ResiliencePipelineProvider(new ResilienceRuntime(
            provider.GetService<ResilienceConfigurationSource>()?.Section ?? provider.GetService<IConfiguration>()?.GetSection("Resilience"),
            provider.GetServices<SharedRegistration>(),
            provider.GetServices<PipelineRegistration>(),
            provider.GetService<TimeProvider>() ?? TimeProvider.System,
            provider.GetRequiredService<ResilienceTelemetry>(),
            provider,
            provider.GetService<PipelineInstanceOptions>()?.MaxInstances ?? PipelineInstanceOptions.DefaultMaxInstances)));
        services.AddOptions<ResilienceStartupCheck>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ResilienceStartupCheck>, ResilienceStartupCheck.Validator>());
        return new ResilienceBuilder(services);
    }

    /// <summary>
    /// Adds the resilience services (<see cref="AddResilience(IServiceCollection)"/>) reading settings from
    /// <paramref name="section"/>, the resilience section itself.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="section">The section, for example <c>configuration.GetSection("Resilience")</c>.</param>
    /// <returns>A builder for shared instances and pipelines.</returns>
    public static ResilienceBuilder AddResilience(this IServiceCollection services, IConfiguration section) =>
        services.AddResilience().BindConfiguration(section);

    /// <summary>
    /// Registers an untyped pipeline whose strategies code adds; the context gives services, shared instances and
    /// strategies bound to the section <c>Resilience:Pipelines:{name}</c>. The pipeline is telemetry-instrumented and
    /// served by <see cref="ResiliencePipelineProvider.GetPipeline(string)"/>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The pipeline's name.</param>
    /// <param name="configure">Adds the strategies; runs once, when the provider is created.</param>
    /// <returns>The services.</returns>
    /// <exception cref="ArgumentException">A pipeline of that name (ignoring case) is already registered.</exception>
    public static IServiceCollection AddResiliencePipeline(this IServiceCollection services, string name, Action<ResiliencePipelineBuilder, ResiliencePipelineContext> configure)
    {
        services.AddResilience().AddPipeline(name, configure);
        return services;
    }

    /// <summary>Registers a typed pipeline whose strategies code adds (see <see cref="AddResiliencePipeline(IServiceCollection, string, Action{ResiliencePipelineBuilder, ResiliencePipelineContext})"/>).</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">The pipeline's name.</param>
    /// <param name="configure">Adds the strategies; runs once, when the provider is created.</param>
    /// <returns>The services.</returns>
    /// <exception cref="ArgumentException">A pipeline of that name (ignoring case) is already registered.</exception>
    public static IServiceCollection AddResiliencePipeline<T>(this IServiceCollection services, string name, Action<ResiliencePipelineBuilder<T>, ResiliencePipelineContext> configure)
    {
        services.AddResilience().AddPipeline(name, configure);
        return services;
    }
}
