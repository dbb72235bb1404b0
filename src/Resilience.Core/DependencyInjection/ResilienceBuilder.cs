using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Resilience.Configuration;

namespace Resilience.DependencyInjection;

/// <summary>
/// Declares a container's shared named instances (a breaker, a limiter or a retry budget per dependency, shared by every
/// pipeline that calls it), its pipelines, and where its settings come from. Returned by <c>services.AddResilience()</c>.
/// </summary>
public sealed class ResilienceBuilder
{
    internal ResilienceBuilder(IServiceCollection services)
    {
        Services = services;
    }

    /// <summary>Gets the services.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Declares a shared circuit breaker; configuration under <c>Resilience:CircuitBreakers:{name}</c> overlays <paramref name="configure"/>.</summary>
    /// <param name="name">The breaker's name.</param>
    /// <param name="configure">The code's options.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentException">A breaker of that name is already declared.</exception>
    public ResilienceBuilder AddCircuitBreaker(string name, Action<CircuitBreakerOptions>? configure = null) =>
        AddShared(ComponentKind.CircuitBreaker, name, ComponentKind.Wrap(configure));

    /// <summary>Declares a shared token bucket; configuration under <c>Resilience:TokenBuckets:{name}</c> overlays <paramref name="configure"/>.</summary>
    /// <param name="name">The bucket's name.</param>
    /// <param name="configure">The code's options.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentException">A bucket of that name is already declared.</exception>
    public ResilienceBuilder AddTokenBucket(string name, Action<TokenBucketLimiterOptions>? configure = null) =>
        AddShared(ComponentKind.TokenBucket, name, ComponentKind.Wrap(configure));

    /// <summary>Declares a shared concurrency limiter; configuration under <c>Resilience:ConcurrencyLimiters:{name}</c> overlays <paramref name="configure"/>.</summary>
    /// <param name="name">The limiter's name.</param>
    /// <param name="configure">The code's options.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentException">A limiter of that name is already declared.</exception>
    public ResilienceBuilder AddConcurrencyLimiter(string name, Action<InFlightLimiterOptions>? configure = null) =>
        AddShared(ComponentKind.ConcurrencyLimiter, name, ComponentKind.Wrap(configure));

    /// <summary>Declares a shared retry budget; configuration under <c>Resilience:RetryBudgets:{name}</c> overlays <paramref name="configure"/>.</summary>
    /// <param name="name">The budget's name.</param>
    /// <param name="configure">The code's options.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentException">A budget of that name is already declared.</exception>
    public ResilienceBuilder AddRetryBudget(string name, Action<RetryBudgetOptions>? configure = null) =>
        AddShared(ComponentKind.RetryBudget, name, ComponentKind.Wrap(configure));

    /// <summary>Registers an untyped pipeline built by code (see <c>AddResiliencePipeline</c>).</summary>
    /// <param name="name">The pipeline's name.</param>
    /// <param name="configure">Adds the strategies; runs when the provider is created, and again for each keyed instance (see <see cref="ResiliencePipelineProvider.GetPipeline(string, string)"/>).</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentException">A pipeline of that name (ignoring case) is already registered.</exception>
    public ResilienceBuilder AddPipeline(string name, Action<ResiliencePipelineBuilder, ResiliencePipelineContext> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return AddPipeline(name, null, context =>
        {
            var builder = context.Prepare(new ResiliencePipelineBuilder());
            configure(builder, context);
            var pipeline = builder.Build();
            return new BuiltPipeline(pipeline, pipeline.Strategies);
        });
    }

    /// <summary>Registers a typed pipeline built by code (see <c>AddResiliencePipeline</c>).</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="name">The pipeline's name.</param>
    /// <param name="configure">Adds the strategies; runs when the provider is created, and again for each keyed instance (see <see cref="ResiliencePipelineProvider.GetPipeline(string, string)"/>).</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentException">A pipeline of that name (ignoring case) is already registered.</exception>
    public ResilienceBuilder AddPipeline<T>(string name, Action<ResiliencePipelineBuilder<T>, ResiliencePipelineContext> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return AddPipeline(name, typeof(T), context =>
        {
            var builder = context.Prepare(new ResiliencePipelineBuilder<T>());
            configure(builder, context);
            var pipeline = builder.Build();
            return new BuiltPipeline(pipeline, pipeline.Strategies);
        });
    }

    /// <summary>
    /// Sets the options of pipelines' keyed instances (<see cref="ResiliencePipelineProvider.GetPipeline(string, string)"/>):
    /// how many each pipeline keeps alive. Read when the provider is created.
    /// </summary>
    /// <param name="configure">Changes the options.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range; the message names it and the range.</exception>
    public ResilienceBuilder ConfigureInstances(Action<PipelineInstanceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var options = Registered<PipelineInstanceOptions>().LastOrDefault();
        if (options is null)
        {
            options = new PipelineInstanceOptions();
            Services.AddSingleton(options);
        }

        configure(options);
        options.Validate();
        return this;
    }

    /// <summary>
    /// Reads the settings from <paramref name="section"/> (the resilience section itself) instead of the container's
    /// <see cref="IConfiguration"/> section <c>Resilience</c>. Changes are applied whenever its reload token fires.
    /// </summary>
    /// <param name="section">The section.</param>
    /// <returns>This builder.</returns>
    public ResilienceBuilder BindConfiguration(IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        Services.RemoveAll<ResilienceConfigurationSource>();
        Services.AddSingleton(new ResilienceConfigurationSource(section));
        return this;
    }

    private ResilienceBuilder AddShared(ComponentKind kind, string name, Action<object>? configure)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (Registered<SharedRegistration>().Any(registration => registration.Kind == kind && string.Equals(registration.Name, name, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException($"A shared {kind.Name} named '{name}' is already declared.", nameof(name));
        }

        Services.AddSingleton(new SharedRegistration(kind, name, configure));
        return this;
    }

    private ResilienceBuilder AddPipeline(string name, Type? resultType, Func<ResiliencePipelineContext, BuiltPipeline> build)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        // Names that differ only in case would read (and bind) the same configuration section.
        if (Registered<PipelineRegistration>().FirstOrDefault(registration => string.Equals(registration.Name, name, StringComparison.OrdinalIgnoreCase)) is { } existing)
        {
            throw new ArgumentException($"A resilience pipeline named '{existing.Name}' is already registered; pipeline names are case-insensitive, as configuration keys are.", nameof(name));
        }

        Services.AddSingleton(new PipelineRegistration(name, resultType, build));
        return this;
    }

    private IEnumerable<T> Registered<T>() =>
        Services.Where(descriptor => descriptor.ServiceType == typeof(T) && descriptor.ImplementationInstance is T).Select(descriptor => (T)descriptor.ImplementationInstance!);
}
