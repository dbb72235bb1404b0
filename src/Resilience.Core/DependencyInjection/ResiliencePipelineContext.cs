using Microsoft.Extensions.Configuration;
using Resilience.Configuration;

namespace Resilience.DependencyInjection;

/// <summary>
/// What the code of a pipeline registered with <c>AddResiliencePipeline</c> is given besides the builder: services, the
/// container's clock, shared named instances, and strategies bound to the pipeline's configuration section. Valid while
/// the pipeline is built.
/// </summary>
/// <remarks>
/// A <c>Bind…</c> method creates a strategy whose options are the code's (the <c>configure</c> delegate)
/// overlaid by the section <c>Resilience:Pipelines:{name}:{section}</c>; when that section changes, the live strategy
/// takes the new options in place and keeps its state.
/// </remarks>
public sealed class ResiliencePipelineContext
{
    private readonly ResilienceRuntime _runtime;
    private readonly PipelineInstance? _instance;

    internal ResiliencePipelineContext(
        ResilienceRuntime runtime, string pipelineName, IServiceProvider serviceProvider, TimeProvider timeProvider, IConfigurationSection? configuration, PipelineInstance? instance = null)
    {
        _runtime = runtime;
        _instance = instance;
        PipelineName = pipelineName;
        ServiceProvider = serviceProvider;
        TimeProvider = timeProvider;
        Configuration = configuration;
    }

    /// <summary>Gets the pipeline's name.</summary>
    public string PipelineName { get; }

    /// <summary>
    /// Gets the key of the instance being built (<see cref="ResiliencePipelineProvider.GetPipeline(string, string)"/>), or
    /// <see langword="null"/> for the pipeline's single instance. The code runs once per instance: a <c>Bind…</c> method
    /// gives each instance its own breaker, limiter, timeout or retry on the section's current options, and what the code
    /// creates itself is the instance's; a <c>Get…</c> method gives every instance the same shared instance.
    /// </summary>
    public string? InstanceKey => _instance?.Key;

    /// <summary>Names, instruments and clocks a builder as the container does, with the instance's key in its telemetry.</summary>
    internal TBuilder Prepare<TBuilder>(TBuilder builder)
        where TBuilder : ResiliencePipelineBuilderBase =>
        _runtime.Prepare(builder, PipelineName, _instance?.Key);

    /// <summary>Gets the container's services.</summary>
    public IServiceProvider ServiceProvider { get; }

    /// <summary>Gets the clock: the container's <see cref="System.TimeProvider"/> when one is registered, otherwise the system clock.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>Gets the pipeline's configuration section (<c>Resilience:Pipelines:{name}</c>), or <see langword="null"/> without configuration.</summary>
    public IConfigurationSection? Configuration { get; }

    /// <summary>
    /// Gets the path of the pipeline's configuration section (<c>Resilience:Pipelines:{name}</c>, without the prefix when
    /// the resilience settings are a configuration root of their own) as messages name its keys, with or without
    /// configuration: for the messages of <see cref="AddCheck{TFirst, TSecond}"/>.
    /// </summary>
    public string SectionPath => ConfigurationMessages.PathOf(_runtime.RootPath, $"{SettingsReader.PipelinesSection}:{PipelineName}");

    /// <summary>Gets a shared circuit breaker (one per dependency, whatever the pipeline).</summary>
    /// <param name="name">The breaker's name.</param>
    /// <returns>The breaker.</returns>
    /// <exception cref="KeyNotFoundException">No breaker of that name is declared.</exception>
    public CircuitBreaker GetCircuitBreaker(string name) => (CircuitBreaker)_runtime.GetShared(ComponentKind.CircuitBreaker, name);

    /// <summary>Gets a shared token bucket.</summary>
    /// <param name="name">The bucket's name.</param>
    /// <returns>The bucket.</returns>
    /// <exception cref="KeyNotFoundException">No bucket of that name is declared.</exception>
    public TokenBucketLimiter GetTokenBucket(string name) => (TokenBucketLimiter)_runtime.GetShared(ComponentKind.TokenBucket, name);

    /// <summary>Gets a shared concurrency limiter.</summary>
    /// <param name="name">The limiter's name.</param>
    /// <returns>The limiter.</returns>
    /// <exception cref="KeyNotFoundException">No limiter of that name is declared.</exception>
    public InFlightLimiter GetConcurrencyLimiter(string name) => (InFlightLimiter)_runtime.GetShared(ComponentKind.ConcurrencyLimiter, name);

    /// <summary>Gets a shared retry budget.</summary>
    /// <param name="name">The budget's name.</param>
    /// <returns>The budget.</returns>
    /// <exception cref="KeyNotFoundException">No budget of that name is declared.</exception>
    public RetryBudget GetRetryBudget(string name) => (RetryBudget)_runtime.GetShared(ComponentKind.RetryBudget, name);

    /// <summary>
    /// Adds a check of two sections this pipeline's code binds, taken together (an option whose allowed values depend on
    /// another section's). It runs on every reading of the settings (when the provider is created, on each reload and
    /// each push of options) with the options each section would have then, once both sections' own options are valid;
    /// a message it returns is an error of that reading: the start fails, or the change is rejected as a whole, logged
    /// and counted, and the last good settings stay in force.
    /// </summary>
    /// <typeparam name="TFirst">The first section's options type.</typeparam>
    /// <typeparam name="TSecond">The second section's options type.</typeparam>
    /// <param name="firstSection">The first section's name within the pipeline's section, as it was bound.</param>
    /// <param name="secondSection">The second section's name within the pipeline's section, as it was bound.</param>
    /// <param name="check">
    /// Given both sections' options, returns what is wrong (naming the keys, for example under <see cref="SectionPath"/>,
    /// and the allowed relation), or <see langword="null"/> when they agree. It must not change the options.
    /// </param>
    public void AddCheck<TFirst, TSecond>(string firstSection, string secondSection, Func<TFirst, TSecond, string?> check)
        where TFirst : class
        where TSecond : class
    {
        ArgumentException.ThrowIfNullOrEmpty(firstSection);
        ArgumentException.ThrowIfNullOrEmpty(secondSection);
        ArgumentNullException.ThrowIfNull(check);
        if (_instance is not null)
        {
            // The single instance's build added it: the sections, and so their check, are the same for every instance.
            return;
        }

        _runtime.AddCheck(PipelineName, options => options(firstSection) is TFirst first && options(secondSection) is TSecond second ? check(first, second) : null);
    }

    /// <summary>Creates this pipeline's circuit breaker bound to <c>Resilience:Pipelines:{name}:{section}</c>.</summary>
    /// <param name="section">The section's name within the pipeline's section.</param>
    /// <param name="configure">The code's options, overlaid by configuration.</param>
    /// <returns>The breaker; add it with <c>AddCircuitBreaker</c>.</returns>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid; the messages name the keys.</exception>
    public CircuitBreaker BindCircuitBreaker(string section = "CircuitBreaker", Action<CircuitBreakerOptions>? configure = null) =>
        (CircuitBreaker)_runtime.Bind(ComponentKind.CircuitBreaker, PipelineName, section, ComponentKind.Wrap(configure), _instance);

    /// <summary>Creates this pipeline's token bucket bound to <c>Resilience:Pipelines:{name}:{section}</c>.</summary>
    /// <param name="section">The section's name within the pipeline's section.</param>
    /// <param name="configure">The code's options, overlaid by configuration.</param>
    /// <returns>The bucket; add it with <c>AddRateLimiter</c>.</returns>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid; the messages name the keys.</exception>
    public TokenBucketLimiter BindTokenBucket(string section = "TokenBucket", Action<TokenBucketLimiterOptions>? configure = null) =>
        (TokenBucketLimiter)_runtime.Bind(ComponentKind.TokenBucket, PipelineName, section, ComponentKind.Wrap(configure), _instance);

    /// <summary>Creates this pipeline's concurrency limiter bound to <c>Resilience:Pipelines:{name}:{section}</c>.</summary>
    /// <param name="section">The section's name within the pipeline's section.</param>
    /// <param name="configure">The code's options, overlaid by configuration.</param>
    /// <returns>The limiter; add it with <c>AddRateLimiter</c>.</returns>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid; the messages name the keys.</exception>
    public InFlightLimiter BindConcurrencyLimiter(string section = "ConcurrencyLimiter", Action<InFlightLimiterOptions>? configure = null) =>
        (InFlightLimiter)_runtime.Bind(ComponentKind.ConcurrencyLimiter, PipelineName, section, ComponentKind.Wrap(configure), _instance);

    /// <summary>Creates this pipeline's timeout bound to <c>Resilience:Pipelines:{name}:{section}</c>.</summary>
    /// <param name="section">The section's name within the pipeline's section.</param>
    /// <param name="configure">The code's options, overlaid by configuration.</param>
    /// <returns>The strategy; add it with <c>AddStrategy</c>.</returns>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid; the messages name the keys.</exception>
    public TimeoutStrategy BindTimeout(string section = "Timeout", Action<TimeoutOptions>? configure = null) =>
        (TimeoutStrategy)_runtime.Bind(ComponentKind.Timeout, PipelineName, section, ComponentKind.Wrap(configure), _instance);

    /// <summary>Creates this pipeline's retry bound to <c>Resilience:Pipelines:{name}:{section}</c> (a <c>RetryBudget</c> key there names a shared budget).</summary>
    /// <param name="section">The section's name within the pipeline's section.</param>
    /// <param name="configure">The code's options, overlaid by configuration.</param>
    /// <returns>The strategy; add it with <c>AddStrategy</c>.</returns>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid; the messages name the keys.</exception>
    public RetryStrategy BindRetry(string section = "Retry", Action<RetryOptions>? configure = null) =>
        (RetryStrategy)_runtime.Bind(ComponentKind.Retry, PipelineName, section, ComponentKind.Wrap(configure), _instance);
}
