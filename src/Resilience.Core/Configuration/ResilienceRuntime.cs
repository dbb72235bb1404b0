using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Resilience.DependencyInjection;
using Resilience.Telemetry;

namespace Resilience.Configuration;

/// <summary>
/// The pipelines and components of one container, and the coordinator of their settings: every change (a configuration
/// reload, an explicit <see cref="Reload"/>, options pushed by code) is read into a plan and checked as a whole; only a
/// plan without errors is applied, in place: live breakers, limiters, timeouts, retries and budgets take the new options
/// and keep their state; a pipeline whose configured strategies changed is rebuilt in place, reusing the instances of
/// the sections it keeps.
/// </summary>
/// <remarks>
/// Reloads, first builds and pushes are serialised by one lock: they are rare, they must not interleave (a plan is
/// checked against the state it will be applied to), and no call path ever takes it. Calls read only the pipelines and
/// the live strategies' own settings.
/// </remarks>
internal sealed class ResilienceRuntime : IDisposable
{
    private static readonly Func<string, bool> NotLive = static _ => false;

    // Start, reloads, pushed options and the first resolution of a pipeline by name are serialised: they are rare and on
    // no call path (the provider caches resolved pipelines; calls run on the live strategies, which take no lock).
    private readonly object _gate = new();
    private readonly IConfiguration? _section;
    private readonly string _rootPath;
    private readonly TimeProvider _timeProvider;
    private readonly IServiceProvider _services;
    private readonly int _maxInstances;

    // The caps of keyed instances that pipelines' settings set (MaxInstances), from the last applied reading; the others
    // take _maxInstances, the code's.
    private Dictionary<string, int> _instanceCaps = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<ComponentSource> _shared;
    private readonly Dictionary<string, LiveComponent> _components = new(StringComparer.OrdinalIgnoreCase);
    // Case-insensitive, as configuration keys are: sources may give a configured pipeline's key in either case.
    private readonly Dictionary<string, LivePipeline> _pipelines = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<IDisposable> _observed = [];
    // Breakers that pipelines' code created without a name are named after their pipeline, in telemetry and health:
    // they all share the default name.
    private readonly Dictionary<CircuitBreaker, string> _codeBreakerNames = new(ReferenceEqualityComparer.Instance);
    // Limiters a reload took out of service: calls in flight finish on them, and the runtime's disposal disposes those
    // still reachable (held weakly, so limiters retired over a long run are not kept for that).
    private readonly List<WeakReference<RateLimiter>> _retiredLimiters = [];
    // The list's length at which its collected entries are next pruned: twice what the last pruning left, so that keys
    // churning past a cap of instances whose limiters stay reachable (a caller holding them, a large heap between
    // collections) cost amortised constant work per retirement, not a scan of the whole list each time.
    private int _pruneRetiredAt = 64;
    private Dictionary<string, PushedOptions> _pushed = new(StringComparer.OrdinalIgnoreCase);
    private string? _lastFingerprint;
    private bool _hadSettings;
    // Whether the settings last read from configuration were rejected: what health reports. Options pushed by code and
    // rejected change nothing, so they leave it as it was.
    private bool _configurationRejected;
    private bool _disposed;
    private bool _started;
    private IDisposable? _changes;

    // Set while the start builds the pipelines registered in code: the errors of the sections their code binds are
    // collected here (not thrown at the first), and, when the settings read first have errors, the plan they came from.
    private List<string>? _startErrors;
    private SettingsPlan? _failedPlan;

    public ResilienceRuntime(
        IConfiguration? section,
        IEnumerable<SharedRegistration> shared,
        IEnumerable<PipelineRegistration> pipelines,
        TimeProvider timeProvider,
        ResilienceTelemetry telemetry,
        IServiceProvider services,
        int maxInstances = PipelineInstanceOptions.DefaultMaxInstances)
    {
        _section = section;
        _maxInstances = maxInstances;
        // A configuration root bound as the resilience settings has keys without a prefix: messages name them so.
        _rootPath = section switch
        {
            IConfigurationSection { Path: { Length: > 0 } path } => path,
            null => "Resilience",
            _ => string.Empty,
        };
        _timeProvider = timeProvider;
        Telemetry = telemetry;
        _services = services;
        _shared = [.. shared.Select(registration => registration.ToSource())];
        foreach (var registration in pipelines)
        {
            _pipelines.Add(registration.Name, LivePipeline.FromCode(registration));
        }
    }

    public ResilienceTelemetry Telemetry { get; }

    /// <summary>Gets the outcome of the last reload or push, if any.</summary>
    public ResilienceReloadResult? LastReload { get; private set; }

    /// <summary>Gets the configuration path of the resilience section.</summary>
    public string RootPath => _rootPath;

    /// <summary>Gets the name validation errors are reported under: the section's path, or <c>Resilience</c> for a bound root.</summary>
    private string OptionsName => _rootPath.Length == 0 ? "Resilience" : _rootPath;

    /// <summary>
    /// Reads the settings, builds every pipeline and starts watching the configuration.
    /// </summary>
    /// <exception cref="OptionsValidationException">The settings are invalid; the exception lists every error.</exception>
    public void Start()
    {
        if (_section is not null)
        {
            // Watch first, then read: a change signalled while the settings are read or the pipelines built is then seen
            // (its notification waits for the gate) instead of being lost with the token that announced it.
            _changes = ChangeToken.OnChange(_section.GetReloadToken, OnConfigurationChanged);
        }

        lock (_gate)
        {
            // Taken before reading, so a change made meanwhile differs from it and is applied by its notification.
            _lastFingerprint = ConfigurationMessages.Fingerprint(_section);
            var plan = Read(_pushed);
            if (plan.Errors.Count == 0)
            {
                Apply(plan);
            }
            else
            {
                // The code pipelines are built all the same, on stand-ins, so the errors of the sections their code
                // binds are reported with these: a start that fails says everything there is to fix.
                _failedPlan = plan;
            }

            var bindErrors = _startErrors = [];
            try
            {
                foreach (var pipeline in _pipelines.Values.Where(pipeline => pipeline.Registration is not null))
                {
                    try
                    {
                        Build(pipeline);
                    }
                    catch (Exception) when (_failedPlan is not null || bindErrors.Count > 0)
                    {
                        // The start fails on the errors found; code that failed on a stand-in is not at fault.
                    }
                }
            }
            finally
            {
                _startErrors = null;
                _failedPlan = null;
            }

            // Sections of code pipelines that their code did not bind are known only now; this reading also has every
            // error of the first.
            var errors = new List<string>(Read(_pushed).Errors);
            errors.AddRange(bindErrors);
            if (errors.Count > 0)
            {
                throw new OptionsValidationException(OptionsName, typeof(ResiliencePipelineProvider), errors);
            }

            _hadSettings = _section is not null && ConfigurationMessages.HasValues(_section);
            _started = true;
        }
    }

    /// <summary>Reads the settings again and applies them if they are valid as a whole.</summary>
    /// <param name="source">What triggered the reload, for logs.</param>
    /// <returns>The outcome.</returns>
    /// <exception cref="ObjectDisposedException">The runtime is disposed.</exception>
    public ResilienceReloadResult Reload(string source)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _lastFingerprint = ConfigurationMessages.Fingerprint(_section);
            return ReadAndApply(source, _pushed);
        }
    }

    /// <summary>Applies options pushed by code to one component, through the same checks as a configuration change.</summary>
    /// <param name="key">The component's key, relative to the resilience section.</param>
    /// <param name="options">The options.</param>
    /// <returns>The outcome.</returns>
    /// <exception cref="ObjectDisposedException">The runtime is disposed.</exception>
    public ResilienceReloadResult Push(string key, object options)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(options);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_components.TryGetValue(key, out var live))
            {
                throw new KeyNotFoundException($"No strategy or shared instance has the key '{key}'; known keys: {string.Join(", ", _components.Keys.Order(StringComparer.Ordinal))}.");
            }

            if (!live.Kind.OptionsType.IsInstanceOfType(options))
            {
                throw new ArgumentException($"'{key}' is a {live.Kind.Name}: it takes {live.Kind.OptionsType.Name}, not {options.GetType().Name}.", nameof(options));
            }

            var pushed = new Dictionary<string, PushedOptions>(_pushed, StringComparer.OrdinalIgnoreCase)
            {
                [key] = new PushedOptions(live.Kind.Clone(options), ConfigurationMessages.Fingerprint(_section?.GetSection(key))),
            };
            return ReadAndApply($"code ({key})", pushed, pushedKey: key);
        }
    }

    /// <summary>Gets a pipeline by name, building it on first use.</summary>
    /// <typeparam name="T">The result type; <see cref="VoidResult"/> for an untyped pipeline.</typeparam>
    /// <param name="name">The pipeline's name.</param>
    /// <returns>The pipeline; the same instance on every call.</returns>
    /// <exception cref="KeyNotFoundException">No pipeline has that name.</exception>
    /// <exception cref="InvalidOperationException">The pipeline is registered in code with another result type.</exception>
    public object GetPipeline<T>(string name) => FindPipeline<T>(name) ?? throw MissingPipeline<T>(name);

    /// <summary>Gets a pipeline by name if one of that name can be had for <typeparamref name="T"/>, building it on first use.</summary>
    /// <typeparam name="T">The result type; <see cref="VoidResult"/> for an untyped pipeline.</typeparam>
    /// <param name="name">The pipeline's name.</param>
    /// <returns>The pipeline, or <see langword="null"/>.</returns>
    public object? TryGetPipeline<T>(string name) => FindPipeline<T>(name);

    /// <summary>Gets the keyed instances of a pipeline that can be had for <typeparamref name="T"/>.</summary>
    /// <exception cref="KeyNotFoundException">No pipeline has that name.</exception>
    /// <exception cref="InvalidOperationException">The pipeline is registered in code with another result type.</exception>
    public PipelineInstances InstancesOf<T>(string name)
    {
        lock (_gate)
        {
            // The single instance is had first: it checks the name and the result type, and its components are those
            // whose current options a new instance copies.
            _ = GetPipeline<T>(name);
            var pipeline = _pipelines[name];
            return pipeline.Instances ??= new PipelineInstances(pipeline, InstanceCapOf(name));
        }
    }

    /// <summary>
    /// Gets the instance of a pipeline for a key, creating it on the current settings when it is not live, and evicting
    /// the least recently used one when that takes the pipeline past its cap.
    /// </summary>
    /// <typeparam name="T">The result type; <see cref="VoidResult"/> for an untyped pipeline.</typeparam>
    /// <param name="instances">The pipeline's instances, from <see cref="InstancesOf{T}"/>.</param>
    /// <param name="key">The instance's key.</param>
    /// <returns>The instance's pipeline for <typeparamref name="T"/>.</returns>
    /// <exception cref="ObjectDisposedException">The runtime is disposed.</exception>
    public object GetInstance<T>(PipelineInstances instances, string key)
    {
        // Off the call path: a live instance is found without this lock (PipelineInstances.Find). Creating one reads the
        // settings and builds components as a reload does, so it takes the reload's lock: no instance is built from
        // settings a concurrent reload has already replaced and then missed by it.
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var pipeline = instances.Pipeline;
            if (!instances.TryGet(key, out var instance))
            {
                instance = CreateInstance(pipeline, key);
                if (instances.Add(instance) is { } evicted)
                {
                    Evict(evicted);
                }
            }

            if (instance.Find(typeof(T)) is not { } view)
            {
                if (instance.Built is { } built)
                {
                    view = built.Pipeline;
                }
                else
                {
                    var strategies = InstanceStrategies(pipeline, instance);
                    var variant = typeof(T) == typeof(VoidResult)
                        ? PipelineVariant.Untyped(this, pipeline.Name, strategies, key)
                        : PipelineVariant.Typed<T>(this, pipeline.Name, strategies, key);
                    instance.Variants.Add(typeof(T), variant);
                    view = variant.Pipeline;
                }

                instance.Publish(typeof(T), view);
            }

            instances.Touch(instance);
            return view;
        }
    }

    private PipelineInstance CreateInstance(LivePipeline pipeline, string key)
    {
        var instance = new PipelineInstance(key);
        if (pipeline.Registration is not { } registration)
        {
            return instance;
        }

        try
        {
            // The pipeline's code runs again for the instance: what it binds and what it creates are the instance's own.
            var context = new ResiliencePipelineContext(this, pipeline.Name, _services, _timeProvider, _section?.GetSection($"{SettingsReader.PipelinesSection}:{pipeline.Name}"), instance);
            instance.Built = registration.Build(context);
            Observe(pipeline.Name, instance.Built, instance.Observed, key);
            return instance;
        }
        catch
        {
            Evict(instance);
            throw;
        }
    }

    /// <summary>
    /// The strategies of a configured pipeline's instance for its current layout: its own copy of each section the pipeline
    /// declares (created on the section's current options when missing), and the shared instance of each it refers to.
    /// </summary>
    private List<ResilienceStrategy> InstanceStrategies(LivePipeline pipeline, PipelineInstance instance) =>
        [.. pipeline.Layout!.Keys.Select(key => IsOwn(key) ? OwnCopy(instance, key).Strategy : _components[key].Strategy)];

    /// <summary>Brings an instance of a configured pipeline to its new layout: copies of sections gone or retyped leave service, new ones are created, and its pipelines rebuilt in place.</summary>
    private void SyncInstance(LivePipeline pipeline, PipelineInstance instance)
    {
        var keys = pipeline.Layout!.Keys.ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var stale in instance.Components.Values.Where(copy => !keys.Contains(copy.Key) || _components[copy.Key].Kind != copy.Kind).ToList())
        {
            instance.Components.Remove(stale.Key);
            TakeOutOfService(stale);
        }

        var strategies = InstanceStrategies(pipeline, instance);
        foreach (var variant in instance.Variants.Values)
        {
            variant.Rebuild(strategies);
        }
    }

    /// <summary>Gets whether a component key is a pipeline's own section (otherwise it is a shared instance, which every instance goes through).</summary>
    private static bool IsOwn(string key) => key.StartsWith(SettingsReader.PipelinesSection + ":", StringComparison.OrdinalIgnoreCase);

    /// <summary>Gets an instance's own copy of the component of a key, creating it on the component's current options if it has none.</summary>
    private LiveComponent OwnCopy(PipelineInstance instance, string key) =>
        instance.Components.TryGetValue(key, out var own) ? own : CreateCopy(instance, _components[key]);

    /// <summary>Creates an instance's own copy of a component, on the options the component has now.</summary>
    private LiveComponent CreateCopy(PipelineInstance instance, LiveComponent source)
    {
        var options = source.Kind.Clone(source.Options);
        var created = source.Kind.Create(options);
        var copy = new LiveComponent(
            new PlannedComponent(source.Kind, source.Key, source.Name, options, null), created, source.Configure, source.CodeBound, Track(created, source.Name, instance.Key));
        instance.Components.Add(source.Key, copy);
        return copy;
    }

    /// <summary>The instances' own copies of a component, for a change applied to it to reach them all.</summary>
    private IEnumerable<LiveComponent> CopiesOf(string key)
    {
        var parts = key.Split(':');
        if (!IsOwn(key) || parts.Length < 3 || !_pipelines.TryGetValue(parts[1], out var pipeline) || pipeline.Instances is not { } instances)
        {
            yield break;
        }

        foreach (var instance in instances.All)
        {
            if (instance.Components.TryGetValue(key, out var copy))
            {
                yield return copy;
            }
        }
    }

    /// <summary>An instance leaves service with its state: calls in flight on it finish, nothing updates it any more.</summary>
    private void Evict(PipelineInstance instance)
    {
        foreach (var component in instance.Components.Values)
        {
            TakeOutOfService(component);
        }

        foreach (var tracking in instance.Observed)
        {
            tracking.Dispose();
        }
    }

    /// <summary>Finds a pipeline by name, building it on first use; <see langword="null"/> when none of that name can be had for <typeparamref name="T"/>.</summary>
    private object? FindPipeline<T>(string name)
    {
        lock (_gate)
        {
            if (!_pipelines.TryGetValue(name, out var pipeline))
            {
                return null;
            }

            if (pipeline.Registration is { } registration)
            {
                return registration.ResultType == ResultTypeOf<T>() ? (pipeline.Built ?? Build(pipeline)).Pipeline : null;
            }

            if (!pipeline.Variants.TryGetValue(typeof(T), out var variant))
            {
                var strategies = Strategies(pipeline.Layout!);
                variant = typeof(T) == typeof(VoidResult) ? PipelineVariant.Untyped(this, name, strategies) : PipelineVariant.Typed<T>(this, name, strategies);
                pipeline.Variants.Add(typeof(T), variant);
            }

            return variant.Pipeline;
        }
    }

    /// <summary>Says why <see cref="FindPipeline{T}"/> found no pipeline: no such name, or one registered with another result type.</summary>
    private Exception MissingPipeline<T>(string name)
    {
        lock (_gate)
        {
            if (_pipelines.TryGetValue(name, out var pipeline) && pipeline.Registration is { } registration)
            {
                var registered = registration.ResultType is { } type ? $"ResiliencePipeline<{type.Name}>" : "ResiliencePipeline";
                var asked = ResultTypeOf<T>() is { } result ? $"ResiliencePipeline<{result.Name}>" : "ResiliencePipeline";
                return new InvalidOperationException($"Pipeline '{name}' is registered as a {registered}; it was asked for as a {asked}.");
            }

            var known = string.Join(", ", _pipelines.Keys.Order(StringComparer.Ordinal));
            return new KeyNotFoundException(
                $"No resilience pipeline is named '{name}': register it with AddResiliencePipeline(\"{name}\", ...) or declare it under {PathOf($"{SettingsReader.PipelinesSection}:{name}:{SettingsReader.StrategiesKey}")}. Known pipelines: {(known.Length == 0 ? "none" : known)}.");
        }
    }

    /// <summary>The result type a registration records for <typeparamref name="T"/>: none for an untyped pipeline.</summary>
    private static Type? ResultTypeOf<T>() => typeof(T) == typeof(VoidResult) ? null : typeof(T);

    /// <summary>Gets a shared named instance.</summary>
    public object GetShared(ComponentKind kind, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        lock (_gate)
        {
            var key = $"{kind.SharedSection}:{name}";
            if (_components.TryGetValue(key, out var live) && live.Kind == kind)
            {
                return live.Instance;
            }

            if (_failedPlan is { } failed && (failed.Components.TryGetValue(key, out var planned) ? planned.Kind == kind : failed.Invalid.Contains(key)))
            {
                return StandIn(kind, name);
            }

            var known = string.Join(", ", _components.Values.Where(component => component.Kind == kind && component.Key.StartsWith(kind.SharedSection + ":", StringComparison.OrdinalIgnoreCase)).Select(component => component.Name));
            throw new KeyNotFoundException(
                $"No shared {kind.Name} is named '{name}': declare it with AddResilience().Add{kind.Name}(\"{name}\") or under {PathOf(key)}. Known: {(known.Length == 0 ? "none" : known)}.");
        }
    }

    /// <summary>Creates (or finds) a strategy that a pipeline's code binds to a section of that pipeline.</summary>
    public object Bind(ComponentKind kind, string pipelineName, string section, Action<object>? configure, PipelineInstance? instance)
    {
        ArgumentException.ThrowIfNullOrEmpty(section);
        lock (_gate)
        {
            var key = $"{SettingsReader.PipelinesSection}:{pipelineName}:{section}";
            var bound = BindSingle(kind, pipelineName, section, key, configure);
            if (instance is null)
            {
                return bound;
            }

            // An instance binds after the start, which bound the section for the single instance: the instance gets its
            // own copy, on the section's current options (code's, overlaid by configuration or pushed options).
            return OwnCopy(instance, key).Instance;
        }
    }

    /// <summary>Creates (or finds) the single instance's strategy for a section a pipeline's code binds; under the runtime's lock.</summary>
    private object BindSingle(ComponentKind kind, string pipelineName, string section, string key, Action<object>? configure)
    {
        if (_pipelines.TryGetValue(pipelineName, out var pipeline))
        {
            pipeline.BoundSections.Add(section);
        }

        if (_components.TryGetValue(key, out var live))
        {
            return live.Kind == kind
                ? live.Instance
                : throw new InvalidOperationException($"{PathOf(key)} is already bound as a {live.Kind.Name}; it cannot also be a {kind.Name}.");
        }

        var source = new ComponentSource(kind, key, $"{pipelineName}/{section}", configure);
        var failed = _failedPlan;
        var plan = new SettingsReader(_section, _rootPath, _timeProvider).ReadComponent(
            source, _pushed, failed is null ? _components.ContainsKey : budget => _components.ContainsKey(budget) || failed.Components.ContainsKey(budget) || failed.Invalid.Contains(budget));
        if (plan.Errors.Count > 0 && _startErrors is { } startErrors)
        {
            startErrors.AddRange(plan.Errors);
            return StandIn(kind, source.Name);
        }

        if (plan.Errors.Count > 0)
        {
            throw new OptionsValidationException(OptionsName, typeof(ResiliencePipelineProvider), plan.Errors);
        }

        // Without the settings applied, a retry's budget does not exist yet: the start fails anyway.
        return failed is null ? Create(plan.Components[key], configure, codeBound: true).Instance : StandIn(kind, source.Name);
    }

    /// <summary>Names, instruments and clocks a builder the way every pipeline of this container is.</summary>
    public TBuilder Prepare<TBuilder>(TBuilder builder, string name, string? instanceKey)
        where TBuilder : ResiliencePipelineBuilderBase
    {
        builder.Name = name;
        builder.TimeProvider = _timeProvider;
        return builder.AddTelemetry(Telemetry, instanceKey);
    }

    /// <summary>Gets the health view: pipelines, breakers, limiters and budgets as they are now.</summary>
    public ResilienceHealthReport GetHealth()
    {
        lock (_gate)
        {
            var pipelines = new List<PipelineHealth>();
            var breakers = new Dictionary<CircuitBreaker, string>(ReferenceEqualityComparer.Instance);
            var limiters = new Dictionary<RateLimiter, string>(ReferenceEqualityComparer.Instance);
            var partitioned = new Dictionary<IDisposable, string>(ReferenceEqualityComparer.Instance);
            var budgets = new List<RetryBudgetHealth>();
            var instanceBreakers = new List<CircuitBreakerHealth>();
            var instanceLimiters = new List<RateLimiterHealth>();
            foreach (var component in _components.Values)
            {
                switch (component.Instance)
                {
                    case CircuitBreaker breaker:
                        breakers.TryAdd(breaker, component.Name);
                        break;
                    case RateLimiter limiter:
                        limiters.TryAdd(limiter, component.Name);
                        break;
                    case RetryBudget budget:
                        budgets.Add(new RetryBudgetHealth(component.Name, budget.Balance));
                        break;
                }
            }

            foreach (var pipeline in _pipelines.Values.OrderBy(pipeline => pipeline.Name, StringComparer.Ordinal))
            {
                var strategies = pipeline.Strategies;
                var used = new List<string>();
                foreach (var strategy in strategies)
                {
                    if (strategy is CircuitBreakerStrategy { Breaker: var breaker })
                    {
                        breakers.TryAdd(breaker, _codeBreakerNames.GetValueOrDefault(breaker, breaker.Name));
                        used.Add(breakers[breaker]);
                    }
                    else if (strategy is RateLimiterStrategy { Limiter: var limiter })
                    {
                        // A limiter the pipeline's code created is named as its telemetry names it (Build): the strategy's
                        // name alone is its type's for every such limiter.
                        limiters.TryAdd(limiter, $"{pipeline.Name}/{strategy.Name}");
                    }
                    else if (strategy is IPartitionedLimiterStrategy { PartitionedLimiter: var partitionedLimiter })
                    {
                        partitioned.TryAdd(partitionedLimiter, $"{pipeline.Name}/{strategy.Name}");
                    }
                }

                var instances = pipeline.Instances?.All.OrderBy(instance => instance.Key, StringComparer.Ordinal).ToList() ?? [];
                foreach (var instance in instances)
                {
                    // An instance's own breakers and limiters, with its key; the shared ones it goes through are listed once,
                    // above. Its own copy of a declared component has that component's name.
                    foreach (var strategy in instance.Strategies)
                    {
                        switch (strategy)
                        {
                            case CircuitBreakerStrategy { Breaker: var breaker } when !breakers.ContainsKey(breaker):
                                instanceBreakers.Add(new CircuitBreakerHealth(CodeBreakerName(pipeline.Name, breaker), breaker, instance.Key));
                                break;
                            case RateLimiterStrategy { Limiter: var limiter } when !limiters.ContainsKey(limiter):
                                var name = instance.Components.Values.FirstOrDefault(copy => ReferenceEquals(copy.Instance, limiter))?.Name ?? $"{pipeline.Name}/{strategy.Name}";
                                if (RateLimiterHealth.Of(name, limiter, instance.Key) is { } health)
                                {
                                    instanceLimiters.Add(health);
                                }

                                break;
                        }
                    }
                }

                pipelines.Add(new PipelineHealth(pipeline.Name, pipeline.Registration is null, [.. strategies.Select(strategy => strategy.Name)], used, [.. instances.Select(instance => instance.Key)], InstanceCapOf(pipeline.Name)));
            }

            return new ResilienceHealthReport(
                pipelines,
                [.. breakers.Select(pair => new CircuitBreakerHealth(pair.Value, pair.Key)).Concat(instanceBreakers)
                    .OrderBy(health => health.Name, StringComparer.Ordinal).ThenBy(health => health.InstanceKey, StringComparer.Ordinal)],
                [.. limiters.Select(pair => RateLimiterHealth.Of(pair.Value, pair.Key)).OfType<RateLimiterHealth>().Concat(instanceLimiters)
                    .OrderBy(health => health.Name, StringComparer.Ordinal).ThenBy(health => health.InstanceKey, StringComparer.Ordinal)],
                [.. partitioned.Select(pair => PartitionedRateLimiterHealth.Of(pair.Value, pair.Key)).OfType<PartitionedRateLimiterHealth>().OrderBy(health => health.Name, StringComparer.Ordinal)],
                [.. budgets.OrderBy(health => health.Name, StringComparer.Ordinal)],
                LastReload,
                _configurationRejected);
        }
    }

    public void Dispose()
    {
        _changes?.Dispose();
        lock (_gate)
        {
            _disposed = true;
            var instances = _pipelines.Values.SelectMany(pipeline => pipeline.Instances?.All ?? []).ToList();
            var copies = instances.SelectMany(instance => instance.Components.Values).ToList();
            foreach (var tracking in _components.Values.Concat(copies).Select(component => component.Tracking).Concat(_observed).Concat(instances.SelectMany(instance => instance.Observed)))
            {
                tracking.Dispose();
            }

            // The limiters this runtime created are its own (keyed instances' copies too): disposed, they fail their
            // waiters and stop their timers instead of keeping callers queued after the container is gone. Those a
            // pipeline's code created are the code's.
            foreach (var limiter in _components.Values.Concat(copies).Select(component => component.Instance).OfType<RateLimiter>().Concat(Retired()))
            {
                limiter.Dispose();
            }
        }
    }

    private void OnConfigurationChanged()
    {
        lock (_gate)
        {
            // A notification already under way when the watch was disposed finds nothing to apply to: applying it would
            // track new instances in telemetry that nothing untracks. One that came before start is read by the start.
            if (_started && !_disposed)
            {
                ReloadIfChanged();
            }
        }
    }

    /// <summary>
    /// Reloads on a configuration notification only when the resilience section changed: the reload token is the whole
    /// configuration's (a change of log levels signals it too), and a file watcher often signals twice.
    /// </summary>
    private void ReloadIfChanged()
    {
        var fingerprint = ConfigurationMessages.Fingerprint(_section);
        if (fingerprint != _lastFingerprint)
        {
            _lastFingerprint = fingerprint;
            ReadAndApply("configuration", _pushed);
        }
    }

    private SettingsPlan Read(IReadOnlyDictionary<string, PushedOptions> pushed)
    {
        // Configuration keys are case-insensitive: a code pipeline's section is found whatever the case of its key.
        var codePipelines = _pipelines.Values
            .Where(pipeline => pipeline.Registration is not null)
            .ToDictionary(pipeline => pipeline.Name, pipeline => pipeline.Built is null ? null : (IReadOnlySet<string>?)pipeline.BoundSections, StringComparer.OrdinalIgnoreCase);
        var bound = _components.Values.Where(component => component.CodeBound).Select(component => component.ToSource()).ToList();
        var plan = new SettingsReader(_section, _rootPath, _timeProvider).Read(_shared, bound, codePipelines, pushed);

        // Checks of sections taken together run on what this reading would apply, so a change that breaks one is refused
        // as a whole, like any other error; a section with errors of its own is not planned, and its checks are skipped.
        foreach (var pipeline in _pipelines.Values.Where(pipeline => pipeline.Checks.Count > 0))
        {
            var prefix = $"{SettingsReader.PipelinesSection}:{pipeline.Name}:";
            foreach (var check in pipeline.Checks)
            {
                if (check(section => plan.Components.TryGetValue(prefix + section, out var planned) ? planned.Options : null) is { } error)
                {
                    plan.Errors.Add(error);
                }
            }
        }

        return plan;
    }

    /// <summary>Adds a check of a code pipeline's bound sections taken together, run on every reading from now on.</summary>
    public void AddCheck(string pipelineName, Func<Func<string, object?>, string?> check)
    {
        lock (_gate)
        {
            _pipelines[pipelineName].Checks.Add(check);
        }
    }

    private ResilienceReloadResult ReadAndApply(string source, Dictionary<string, PushedOptions> pushed, string? pushedKey = null)
    {
        SettingsPlan plan;
        try
        {
            plan = Read(pushed);
        }
        catch (Exception exception)
        {
            // Code's options delegates run on every reading; one that throws must not take a configuration watcher's
            // thread down with it: the change is rejected like any other invalid one.
            plan = new SettingsPlan();
            plan.Errors.Add($"Reading the settings failed: {exception.GetType().Name}: {exception.Message}");
        }

        CheckFixedOptions(plan);
        if (pushedKey is not null && plan.Errors.Count == 0 && !plan.Components.ContainsKey(pushedKey))
        {
            // The instance of a pipeline gone from configuration still serves those that hold it, but nothing reads its
            // options any more: the push would be dropped as stale and reported applied.
            var gone = pushedKey.StartsWith(SettingsReader.PipelinesSection + ":", StringComparison.OrdinalIgnoreCase) ? "its pipeline no longer lists it" : "its section was removed";
            plan.Errors.Add($"{PathOf(pushedKey)} is no longer in the settings ({gone}): options pushed to it would not apply; it keeps its last options.");
        }

        if (_hadSettings && (_section is null || !ConfigurationMessages.HasValues(_section)))
        {
            // A file being rewritten, or one that no longer parses, reads as empty: dropping every setting on that is
            // never what was meant.
            plan.Errors.Add($"{(_rootPath.Length == 0 ? "The resilience configuration" : _rootPath)} is empty or missing; a change that removes every resilience setting is rejected (an unreadable or half-written file reads as empty).");
        }

        if (plan.Errors.Count > 0)
        {
            _configurationRejected |= pushedKey is null;
            Telemetry.ReportReloadRejected(source, plan.Errors);
            return LastReload = new ResilienceReloadResult(source, _timeProvider.GetUtcNow(), false, plan.Errors, 0, 0);
        }

        // Applied: the configuration was read and checked with it, whatever brought the change.
        _configurationRejected = false;

        // A push whose component left the settings is stale too: if the section comes back, configuration decides.
        foreach (var stale in plan.StalePushes.Concat(pushed.Keys.Where(key => !plan.Components.ContainsKey(key))).ToList())
        {
            pushed.Remove(stale);
        }

        _pushed = pushed;

        // Settings that arrive after start are guarded as those read at start are.
        _hadSettings |= _section is not null && ConfigurationMessages.HasValues(_section);
        var (updated, rebuilt) = Apply(plan);
        Telemetry.ReportReloadApplied(source, updated, rebuilt);
        return LastReload = new ResilienceReloadResult(source, _timeProvider.GetUtcNow(), true, [], updated, rebuilt);
    }

    /// <summary>
    /// Refuses a change of an option a live instance took only when it was created: applied, it would be reported in
    /// force (and shown by the instance's options) while the instance goes on with the old one.
    /// </summary>
    private void CheckFixedOptions(SettingsPlan plan)
    {
        foreach (var planned in plan.Components.Values)
        {
            if (!_components.TryGetValue(planned.Key, out var live) || live.Kind != planned.Kind)
            {
                continue;
            }

            foreach (var property in planned.Kind.FixedProperties)
            {
                var (was, now) = (property.GetValue(live.Options), property.GetValue(planned.Options));
                if (!Equals(was, now))
                {
                    plan.Errors.Add($"{PathOf($"{planned.Key}:{property.Name}")} is fixed when the {planned.Kind.Name} is created; it cannot change from {Show(was)} to {Show(now)} on a live one (restart to change it).");
                }
            }
        }

        static string Show(object? value) => Convert.ToString(value, CultureInfo.InvariantCulture) is { Length: > 0 } text ? text : "none";
    }

    /// <summary>Applies a plan without errors: updates live components in place, creates new ones, rebuilds changed pipelines.</summary>
    private (int Updated, int Rebuilt) Apply(SettingsPlan plan)
    {
        var updated = 0;
        var replaced = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        // Budgets first: retries refer to them.
        foreach (var planned in plan.Components.Values.OrderBy(component => component.Kind == ComponentKind.RetryBudget ? 0 : 1))
        {
            ResolveBudget(planned);
            if (!_components.TryGetValue(planned.Key, out var live))
            {
                Create(planned, configure: null, codeBound: false);
            }
            else if (live.Kind != planned.Kind)
            {
                // A configured section changed type: the pipeline that lists it is rebuilt below with the new instance.
                Retire(live);
                Create(planned, configure: null, codeBound: false);
                replaced.Add(planned.Key);
            }
            else if (!live.Kind.SameSettings(live.Options, planned.Options))
            {
                live.Kind.Update(live.Instance, planned.Options);
                live.Options = planned.Options;
                foreach (var copy in CopiesOf(planned.Key))
                {
                    // Each instance's copy takes the same options in place and keeps its own state.
                    copy.Kind.Update(copy.Instance, planned.Options);
                    copy.Options = planned.Options;
                }

                updated++;
            }
        }

        var rebuilt = 0;
        foreach (var (name, layout) in plan.Pipelines)
        {
            if (!_pipelines.TryGetValue(name, out var pipeline))
            {
                _pipelines.Add(name, pipeline = LivePipeline.FromConfiguration(name, layout));
                pipeline.Variants.Add(typeof(VoidResult), PipelineVariant.Untyped(this, name, Strategies(layout)));
            }
            else if (!layout.SameAs(pipeline.Layout) || layout.Keys.Any(replaced.Contains))
            {
                pipeline.Layout = layout;
                var strategies = Strategies(layout);
                foreach (var variant in pipeline.Variants.Values)
                {
                    variant.Rebuild(strategies);
                }

                foreach (var instance in pipeline.Instances?.All ?? [])
                {
                    SyncInstance(pipeline, instance);
                }

                rebuilt++;
            }
        }

        // A changed cap of keyed instances applies at once: past a lower one, the least recently used leave service. A
        // pipeline gone from configuration keeps its last cap, as it keeps its last strategies.
        foreach (var gone in _pipelines.Values.Where(pipeline => pipeline.Registration is null && !plan.Pipelines.ContainsKey(pipeline.Name)))
        {
            plan.InstanceCaps[gone.Name] = InstanceCapOf(gone.Name);
        }

        _instanceCaps = plan.InstanceCaps;
        foreach (var pipeline in _pipelines.Values)
        {
            if (pipeline.Instances is { } instances && InstanceCapOf(pipeline.Name) is var cap && cap != instances.MaxInstances)
            {
                // Not a strategy updated nor a pipeline rebuilt: the reload's counts leave it out.
                foreach (var evicted in instances.Resize(cap))
                {
                    Evict(evicted);
                }
            }
        }

        // Strategies of configured pipelines that no pipeline lists any more leave service (calls in flight finish on
        // them). A pipeline gone from configuration keeps its last strategies: callers may hold it.
        var listed = _pipelines.Values.Where(pipeline => pipeline.Layout is not null).SelectMany(pipeline => pipeline.Layout!.Keys).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var orphan in _components.Values.Where(component => !component.CodeBound && !listed.Contains(component.Key)).ToList())
        {
            if (orphan.Key.StartsWith(SettingsReader.PipelinesSection + ":", StringComparison.OrdinalIgnoreCase))
            {
                Retire(orphan);
            }
        }

        return (updated, rebuilt);
    }

    /// <summary>Gets how many times the retired limiters were scanned for collected ones: a few per doubling of the list, not one per retirement.</summary>
    internal int RetiredLimiterScans { get; private set; }

    private int InstanceCapOf(string pipelineName) => _instanceCaps.GetValueOrDefault(pipelineName, _maxInstances);

    private IEnumerable<RateLimiter> Retired()
    {
        foreach (var retired in _retiredLimiters)
        {
            if (retired.TryGetTarget(out var limiter))
            {
                yield return limiter;
            }
        }
    }

    private string PathOf(string key) => ConfigurationMessages.PathOf(_rootPath, key);

    private IReadOnlyList<ResilienceStrategy> Strategies(PipelineLayout layout) =>
        [.. layout.Keys.Select(key => _components[key].Strategy)];

    private void ResolveBudget(PlannedComponent planned)
    {
        if (planned.BudgetKey is { } budgetKey)
        {
            ComponentKind.SetBudget(planned.Options, (RetryBudget)_components[budgetKey].Instance);
        }
    }

    private LiveComponent Create(PlannedComponent planned, Action<object>? configure, bool codeBound)
    {
        ResolveBudget(planned);
        var instance = planned.Kind.Create(planned.Options);
        var live = new LiveComponent(planned, instance, configure, codeBound, Track(instance, planned.Name, instanceKey: null));
        _components[planned.Key] = live;
        return live;
    }

    /// <summary>
    /// Creates an instance on default options for code to build a pipeline with when the start is failing anyway: the
    /// code goes on and binds its other sections, whose errors are then reported too. It is never registered or served.
    /// </summary>
    private object StandIn(ComponentKind kind, string name)
    {
        var options = kind.CreateDefault();
        kind.Prepare(options, name, _timeProvider);
        return kind.Create(options);
    }

    private IDisposable Track(object instance, string name, string? instanceKey) => instance switch
    {
        CircuitBreaker breaker => Telemetry.Track(breaker, name, instanceKey),
        RateLimiter limiter => Telemetry.Track(limiter, name, instanceKey),
        RetryBudget budget => Telemetry.Track(budget, name),
        _ => EmptyDisposable.Instance,
    };

    private void Retire(LiveComponent component)
    {
        _components.Remove(component.Key);
        TakeOutOfService(component);
    }

    /// <summary>Takes a component out of service: no longer observed; a limiter is disposed with the runtime if still reachable then.</summary>
    private void TakeOutOfService(LiveComponent component)
    {
        component.Tracking.Dispose();
        if (component.Instance is RateLimiter limiter)
        {
            if (_retiredLimiters.Count >= _pruneRetiredAt)
            {
                _retiredLimiters.RemoveAll(static retired => !retired.TryGetTarget(out _));
                _pruneRetiredAt = Math.Max(64, 2 * _retiredLimiters.Count);
                RetiredLimiterScans++;
            }

            _retiredLimiters.Add(new WeakReference<RateLimiter>(limiter));
        }
    }

    private BuiltPipeline Build(LivePipeline pipeline)
    {
        var context = new ResiliencePipelineContext(this, pipeline.Name, _services, _timeProvider, _section?.GetSection($"{SettingsReader.PipelinesSection}:{pipeline.Name}"));
        var built = pipeline.Registration!.Build(context);
        Observe(pipeline.Name, built, _observed, instanceKey: null);
        pipeline.Built = built;
        return built;
    }

    /// <summary>Observes the breakers and limiters a pipeline's code created itself (tracking an instance twice does nothing).</summary>
    private void Observe(string pipelineName, BuiltPipeline built, List<IDisposable> observed, string? instanceKey)
    {
        foreach (var strategy in built.Strategies)
        {
            switch (strategy)
            {
                case CircuitBreakerStrategy { Breaker: var breaker }:
                    // An instance's names are not remembered: the table would keep evicted instances' breakers alive.
                    observed.Add(Telemetry.Track(breaker, instanceKey is null ? BreakerName(pipelineName, breaker) : CodeBreakerName(pipelineName, breaker), instanceKey));
                    break;
                case RateLimiterStrategy { Limiter: var limiter }:
                    observed.Add(Telemetry.Track(limiter, $"{pipelineName}/{strategy.Name}", instanceKey));
                    break;
                case IPartitionedLimiterStrategy { PartitionedLimiter: IPartitionCounts counts }:
                    observed.Add(Telemetry.Track(counts, $"{pipelineName}/{strategy.Name}", instanceKey));
                    break;
            }
        }
    }

    /// <summary>
    /// The name of a breaker in telemetry and health: its own, or, for one a pipeline's code created without a name (they
    /// all share the default name), the pipeline's name before it.
    /// </summary>
    private string BreakerName(string pipelineName, CircuitBreaker breaker)
    {
        if (breaker.Name != nameof(CircuitBreaker))
        {
            return breaker.Name;
        }

        if (!_codeBreakerNames.TryGetValue(breaker, out var name))
        {
            _codeBreakerNames.Add(breaker, name = CodeBreakerName(pipelineName, breaker));
        }

        return name;
    }

    private static string CodeBreakerName(string pipelineName, CircuitBreaker breaker) =>
        breaker.Name == nameof(CircuitBreaker) ? $"{pipelineName}/{breaker.Name}" : breaker.Name;

    private sealed class EmptyDisposable : IDisposable
    {
        public static EmptyDisposable Instance { get; } = new();

        public void Dispose()
        {
        }
    }
}
