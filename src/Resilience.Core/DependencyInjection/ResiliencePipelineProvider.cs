using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Resilience.Configuration;

namespace Resilience.DependencyInjection;

/// <summary>
/// Serves the pipelines of a container by name (the same instance on every call, for the container's lifetime), the
/// shared named breakers, limiters and retry budgets, a health view of them all, and the reload of their settings.
/// Registered by <c>services.AddResilience()</c>; resolving it reads and checks the settings.
/// </summary>
/// <remarks>
/// A pipeline declared in configuration whose strategies are added, removed, reordered or retyped is rebuilt in place:
/// the instance callers hold stays valid and takes the new strategies for calls that start afterwards. Looking a
/// pipeline up after its first use takes no lock.
/// </remarks>
public sealed class ResiliencePipelineProvider : IDisposable
{
    private readonly ResilienceRuntime _runtime;
    private readonly ConcurrentDictionary<(string Name, Type Result), object> _pipelines = new();

    // The keyed instances of each pipeline, by the name and result type they were asked for: looked up on every request
    // of a caller that picks an instance per key, so without a lock or an allocation once known.
    private readonly ConcurrentDictionary<(string Name, Type Result), PipelineInstances> _instances = new();

    internal ResilienceRuntime Runtime => _runtime;

    internal ResiliencePipelineProvider(ResilienceRuntime runtime)
    {
        _runtime = runtime;
        try
        {
            runtime.Start();
        }
        catch
        {
            runtime.Dispose();
            throw;
        }
    }

    /// <summary>Gets the outcome of the last change of settings (a reload or options pushed by code), if any.</summary>
    public ResilienceReloadResult? LastReload => _runtime.LastReload;

    /// <summary>Gets an untyped pipeline.</summary>
    /// <param name="name">The pipeline's name; case-insensitive, as configuration keys are.</param>
    /// <returns>The pipeline; the same instance on every call.</returns>
    /// <exception cref="KeyNotFoundException">No pipeline has that name.</exception>
    /// <exception cref="InvalidOperationException">The pipeline is registered as a typed pipeline.</exception>
    public ResiliencePipeline GetPipeline(string name) => (ResiliencePipeline)Get<VoidResult>(name);

    /// <summary>Gets a typed pipeline. A pipeline declared in configuration can be had for any result type; its instances share breakers, limiters and their state.</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="name">The pipeline's name; case-insensitive, as configuration keys are.</param>
    /// <returns>The pipeline; the same instance on every call.</returns>
    /// <exception cref="KeyNotFoundException">No pipeline has that name.</exception>
    /// <exception cref="InvalidOperationException">The pipeline is registered in code with another result type, or untyped.</exception>
    public ResiliencePipeline<T> GetPipeline<T>(string name) => (ResiliencePipeline<T>)Get<T>(name);

    /// <summary>
    /// Gets the instance of an untyped pipeline for a key: one breaker, one set of limiters per downstream host or tenant.
    /// See <see cref="GetPipeline{T}(string, string)"/>.
    /// </summary>
    /// <param name="name">The pipeline's name; case-insensitive, as configuration keys are.</param>
    /// <param name="instanceKey">The instance's key (an authority, a tenant); compared ordinally (case-sensitive).</param>
    /// <returns>The instance for that key; the same one while it lives.</returns>
    /// <exception cref="KeyNotFoundException">No pipeline has that name.</exception>
    /// <exception cref="InvalidOperationException">The pipeline is registered as a typed pipeline.</exception>
    /// <exception cref="ObjectDisposedException">The provider is disposed and the instance is not live.</exception>
    public ResiliencePipeline GetPipeline(string name, string instanceKey) => (ResiliencePipeline)GetInstance<VoidResult>(name, instanceKey);

    /// <summary>
    /// Gets the instance of a typed pipeline for a key: one breaker, one set of limiters per downstream host or tenant, so
    /// that one failing does not break calls to the others.
    /// </summary>
    /// <remarks>
    /// <para>
    /// An instance is created on first use from the pipeline's current settings: each section the pipeline declares itself
    /// (in configuration, or bound by its code with <c>Bind…</c>) gets its own breaker, limiter, timeout or retry, with its
    /// own state; the code of a pipeline registered in code runs again for it (<see cref="ResiliencePipelineContext.InstanceKey"/>),
    /// and what it creates itself is the instance's. What the pipeline takes by name from the shared instances (a
    /// <c>Shared</c> reference in configuration, <c>context.GetCircuitBreaker(name)</c> in code) stays shared by every
    /// instance and by the single one: that is what sharing by name means.
    /// </para>
    /// <para>
    /// Every change of settings (a reload, <see cref="UpdateOptions{TOptions}"/>) reaches every live instance in place, as it
    /// reaches the single instance: each keeps its state. A rejected change reaches none.
    /// </para>
    /// <para>
    /// A pipeline keeps at most <see cref="PipelineInstanceOptions.MaxInstances"/> instances (1000 by default,
    /// <see cref="ResilienceBuilder.ConfigureInstances"/>): when a new key arrives at the cap, the instance used least
    /// recently is dropped with its state; a caller still holding it may finish its calls on it, and its key, when it comes
    /// back, gets a fresh instance. Looking up a live instance takes no lock and allocates nothing. Measurements of an
    /// instance carry its key as the <c>pipeline.instance</c> tag, and <see cref="GetHealth"/> lists its breakers with it.
    /// </para>
    /// </remarks>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="name">The pipeline's name; case-insensitive, as configuration keys are.</param>
    /// <param name="instanceKey">The instance's key (an authority, a tenant); compared ordinally (case-sensitive).</param>
    /// <returns>The instance for that key; the same one while it lives.</returns>
    /// <exception cref="KeyNotFoundException">No pipeline has that name.</exception>
    /// <exception cref="InvalidOperationException">The pipeline is registered in code with another result type, or untyped.</exception>
    /// <exception cref="ObjectDisposedException">The provider is disposed and the instance is not live.</exception>
    public ResiliencePipeline<T> GetPipeline<T>(string name, string instanceKey) => (ResiliencePipeline<T>)GetInstance<T>(name, instanceKey);

    /// <summary>Gets an untyped pipeline if one of that name can be had untyped.</summary>
    /// <param name="name">The pipeline's name; case-insensitive, as configuration keys are.</param>
    /// <param name="pipeline">The pipeline; the same instance on every call.</param>
    /// <returns>Whether it was found: <see langword="false"/> when no pipeline has that name, or when it is registered in code as a typed pipeline.</returns>
    public bool TryGetPipeline(string name, [NotNullWhen(true)] out ResiliencePipeline? pipeline)
    {
        pipeline = (ResiliencePipeline?)TryGet<VoidResult>(name);
        return pipeline is not null;
    }

    /// <summary>Gets a typed pipeline if one of that name can be had for <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="name">The pipeline's name; case-insensitive, as configuration keys are.</param>
    /// <param name="pipeline">The pipeline; the same instance on every call.</param>
    /// <returns>Whether it was found: <see langword="false"/> when no pipeline has that name, or when it is registered in code with another result type, or untyped.</returns>
    public bool TryGetPipeline<T>(string name, [NotNullWhen(true)] out ResiliencePipeline<T>? pipeline)
    {
        pipeline = (ResiliencePipeline<T>?)TryGet<T>(name);
        return pipeline is not null;
    }

    /// <summary>Gets a shared circuit breaker.</summary>
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

    /// <summary>Gets the health view: every pipeline with its strategies, every breaker's state and window, limiters, budgets and the last reload.</summary>
    /// <returns>The report, as of now.</returns>
    public ResilienceHealthReport GetHealth() => _runtime.GetHealth();

    /// <summary>
    /// Reads the configuration now (changes are also picked up on their own through its reload token) and applies it if it
    /// is valid as a whole; otherwise nothing changes, and the errors are logged, counted and returned.
    /// </summary>
    /// <returns>The outcome.</returns>
    /// <exception cref="ObjectDisposedException">The provider is disposed.</exception>
    public ResilienceReloadResult Reload() => _runtime.Reload("reload");

    /// <summary>
    /// Pushes options for one strategy or shared instance (from an admin endpoint, a feature-flag service, a remote store)
    /// through the same checks as a configuration change: applied in place if the settings as a whole stay valid,
    /// rejected (logged, counted) otherwise. Pushed options stay in force until the configuration section of that key changes.
    /// </summary>
    /// <typeparam name="TOptions">The options type of the component.</typeparam>
    /// <param name="key">The component's key relative to the resilience section: <c>Pipelines:orders:CircuitBreaker</c>, <c>CircuitBreakers:payments-db</c>.</param>
    /// <param name="options">The options; copied.</param>
    /// <returns>The outcome.</returns>
    /// <exception cref="KeyNotFoundException">No component has that key.</exception>
    /// <exception cref="ArgumentException">The component takes options of another type.</exception>
    /// <exception cref="ObjectDisposedException">The provider is disposed.</exception>
    public ResilienceReloadResult UpdateOptions<TOptions>(string key, TOptions options)
        where TOptions : class =>
        _runtime.Push(key, options);

    /// <summary>
    /// Stops watching the configuration and stops observing the instances in telemetry; no change of settings applies
    /// afterwards. The limiters the provider created (shared, declared in configuration, or bound by a pipeline's code)
    /// are disposed: their waiters get failed leases, and later acquisitions throw <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Dispose() => _runtime.Dispose();

    private object Get<T>(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _pipelines.TryGetValue((name, typeof(T)), out var pipeline)
            ? pipeline
            : _pipelines.GetOrAdd((name, typeof(T)), _runtime.GetPipeline<T>(name));
    }

    private object GetInstance<T>(string name, string instanceKey)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(instanceKey);
        if (_instances.TryGetValue((name, typeof(T)), out var instances) && instances.Find(instanceKey, typeof(T)) is { } pipeline)
        {
            return pipeline;
        }

        // A new key, or a new pipeline name: rare, under the runtime's lock.
        instances ??= _instances.GetOrAdd((name, typeof(T)), _runtime.InstancesOf<T>(name));
        return _runtime.GetInstance<T>(instances, instanceKey);
    }

    private object? TryGet<T>(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_pipelines.TryGetValue((name, typeof(T)), out var pipeline))
        {
            return pipeline;
        }

        return _runtime.TryGetPipeline<T>(name) is { } found ? _pipelines.GetOrAdd((name, typeof(T)), found) : null;
    }
}
