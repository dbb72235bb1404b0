using System.Globalization;
using Microsoft.Extensions.Configuration;
using Resilience.Options;

namespace Resilience.Configuration;

/// <summary>
/// Reads the resilience section (and options pushed by code) into a <see cref="SettingsPlan"/>, collecting every error
/// with the configuration key it concerns. Reading changes nothing: the plan is applied only if it has no error.
/// </summary>
internal sealed class SettingsReader
{
    public const string PipelinesSection = "Pipelines";
    public const string StrategiesKey = "Strategies";
    public const string MaxInstancesKey = "MaxInstances";

    private static readonly IReadOnlySet<string> NoOptions = new HashSet<string>();

    private readonly IConfiguration? _section;
    private readonly string _rootPath;
    private readonly TimeProvider _timeProvider;
    private readonly SettingsPlan _plan = new();

    // Retries left out of the plan by errors of their own, with the budget each refers to: the reference is checked too.
    private readonly List<(string Retry, string Budget)> _unplannedBudgetReferences = [];

    public SettingsReader(IConfiguration? section, string rootPath, TimeProvider timeProvider)
    {
        _section = section;
        _rootPath = rootPath;
        _timeProvider = timeProvider;
    }

    /// <summary>Reads the settings.</summary>
    /// <param name="shared">Shared instances declared in code.</param>
    /// <param name="bound">Strategies that pipelines' code bound to sections.</param>
    /// <param name="codePipelines">The pipelines registered in code, with the sections their code bound (null: not built yet).</param>
    /// <param name="pushed">Options pushed by code, by component key.</param>
    /// <returns>The plan, with its errors.</returns>
    public SettingsPlan Read(
        IEnumerable<ComponentSource> shared,
        IEnumerable<ComponentSource> bound,
        IReadOnlyDictionary<string, IReadOnlySet<string>?> codePipelines,
        IReadOnlyDictionary<string, PushedOptions> pushed)
    {
        CheckRoot();
        ReadShared(shared, pushed);
        foreach (var source in bound)
        {
            Plan(source.Kind, source.Key, source.Name, source.Configure, pushed, allowRetryBudget: true);
        }

        ReadPipelines(codePipelines, pushed);
        ResolveBudgets(static _ => false);
        return _plan;
    }

    /// <summary>Reads the options of one strategy a pipeline's code binds, when that pipeline is built.</summary>
    /// <param name="source">The strategy.</param>
    /// <param name="pushed">Options pushed by code, by component key.</param>
    /// <param name="isLive">Whether a component key (a shared retry budget) exists.</param>
    /// <returns>The plan, with its errors.</returns>
    public SettingsPlan ReadComponent(ComponentSource source, IReadOnlyDictionary<string, PushedOptions> pushed, Func<string, bool> isLive)
    {
        Plan(source.Kind, source.Key, source.Name, source.Configure, pushed, allowRetryBudget: true);
        ResolveBudgets(isLive);
        return _plan;
    }

    private IConfigurationSection? Section(string key) => _section?.GetSection(key);

    private string PathOf(string key) => ConfigurationMessages.PathOf(_rootPath, key);

    private void Error(string message) => _plan.Errors.Add(message);

    private void CheckRoot()
    {
        if (_section is null)
        {
            return;
        }

        var known = ComponentKind.All.Where(kind => kind.SharedSection is not null).Select(kind => kind.SharedSection!).Append(PipelinesSection).ToArray();
        foreach (var child in _section.GetChildren().Where(ConfigurationMessages.HasValues))
        {
            if (!known.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                Error($"{PathOf(child.Key)} is not a known section; expected one of: {string.Join(", ", known)}.");
            }
            else if (child.Value is { } value)
            {
                // Its children would be read as if it were empty: what it was meant to declare would be missing, silently.
                Error($"{PathOf(child.Key)} must be a section, not a value; was '{value}'.");
            }
        }
    }

    private void ReadShared(IEnumerable<ComponentSource> shared, IReadOnlyDictionary<string, PushedOptions> pushed)
    {
        var declared = new Dictionary<string, ComponentSource>(StringComparer.OrdinalIgnoreCase);
        foreach (var source in shared)
        {
            declared[source.Key] = source;
        }

        foreach (var kind in ComponentKind.All.Where(kind => kind.SharedSection is not null))
        {
            foreach (var child in Section(kind.SharedSection!)?.GetChildren().Where(ConfigurationMessages.HasValues) ?? [])
            {
                var key = $"{kind.SharedSection}:{child.Key}";
                declared.TryAdd(key, new ComponentSource(kind, key, child.Key, null));
            }
        }

        foreach (var source in declared.Values)
        {
            Plan(source.Kind, source.Key, source.Name, source.Configure, pushed, allowRetryBudget: false);
        }
    }

    private void ReadPipelines(IReadOnlyDictionary<string, IReadOnlySet<string>?> codePipelines, IReadOnlyDictionary<string, PushedOptions> pushed)
    {
        foreach (var pipeline in Section(PipelinesSection)?.GetChildren().Where(ConfigurationMessages.HasValues) ?? [])
        {
            var strategies = pipeline.GetSection(StrategiesKey);
            var inCode = codePipelines.TryGetValue(pipeline.Key, out var boundSections);
            ReadInstanceCap(pipeline);
            if (inCode)
            {
                if (ConfigurationMessages.HasValues(strategies))
                {
                    Error($"{strategies.Path} declares the strategies of pipeline '{pipeline.Key}', which is registered in code: its code decides its strategies.");
                }

                if (boundSections is not null)
                {
                    foreach (var child in pipeline.GetChildren().Where(child => !boundSections.Contains(child.Key) && !IsPipelineKey(child.Key) && ConfigurationMessages.HasValues(child)))
                    {
                        Error($"{child.Path} is not bound by the code of pipeline '{pipeline.Key}' (bound: {string.Join(", ", boundSections)}).");
                    }
                }

                continue;
            }

            if (!ConfigurationMessages.HasValues(strategies))
            {
                Error($"{pipeline.Path} has no {StrategiesKey} list and no pipeline '{pipeline.Key}' is registered in code.");
                continue;
            }

            ReadLayout(pipeline, strategies, pushed);
        }
    }

    /// <summary>Whether a key of a pipeline's section is the pipeline's own setting rather than a strategy's section.</summary>
    private static bool IsPipelineKey(string key) =>
        string.Equals(key, StrategiesKey, StringComparison.OrdinalIgnoreCase) || string.Equals(key, MaxInstancesKey, StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads the cap of a pipeline's keyed instances, when its settings set one.</summary>
    private void ReadInstanceCap(IConfigurationSection pipeline)
    {
        var setting = pipeline.GetSection(MaxInstancesKey);
        if (!ConfigurationMessages.HasValues(setting))
        {
            return;
        }

        if (setting.Value is { } value && int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var cap) && cap >= 1)
        {
            _plan.InstanceCaps[pipeline.Key] = cap;
        }
        else
        {
            Error($"{setting.Path} must be a whole number in [1, {int.MaxValue}] (the keyed instances the pipeline keeps alive at most); was '{setting.Value ?? "a section"}'.");
        }
    }

    private void ReadLayout(IConfigurationSection pipeline, IConfigurationSection strategies, IReadOnlyDictionary<string, PushedOptions> pushed)
    {
        // An entry that is a section rather than a name is kept, to be refused below, not skipped.
        var entries = strategies.GetChildren().Where(ConfigurationMessages.HasValues)
            .Select(entry => (Index: int.TryParse(entry.Key, out var index) ? index : -1, Entry: entry))
            .OrderBy(pair => pair.Index)
            .ToList();
        var errors = _plan.Errors.Count;
        if (entries.Count == 0 || entries.Any(pair => pair.Index < 0 || string.IsNullOrWhiteSpace(pair.Entry.Value)))
        {
            Error($"{strategies.Path} must be a list of section names, outermost strategy first (for example [\"Retry\", \"CircuitBreaker\", \"Timeout\"]).");
        }

        // The sections the list's well-formed entries name are still read, so their own mistakes are reported with the
        // list's rather than after it is fixed (the pipeline is not planned); a section only a malformed entry names is
        // not read, nor reported as unlisted: one mistake, one message.
        var namedByMalformed = entries.Where(pair => pair.Index < 0 && !string.IsNullOrWhiteSpace(pair.Entry.Value)).Select(pair => pair.Entry.Value!).ToHashSet(StringComparer.OrdinalIgnoreCase);
        entries.RemoveAll(pair => pair.Index < 0 || string.IsNullOrWhiteSpace(pair.Entry.Value));
        var keys = new List<string>();
        var sharedBy = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { StrategiesKey, MaxInstancesKey };
        foreach (var (_, entry) in entries)
        {
            var sectionName = entry.Value!;
            if (!used.Add(sectionName))
            {
                Error($"{entry.Path} names '{sectionName}' a second time; give each strategy its own section (\"Type\" says what it is).");
                continue;
            }

            var section = pipeline.GetSection(sectionName);
            var typeName = section[ComponentKind.TypeKey] ?? sectionName;
            if (!ComponentKind.TryGet(typeName, out var kind) || !kind.IsStrategy)
            {
                Error($"{entry.Path} names '{sectionName}', whose type '{typeName}' is not a strategy type; expected one of: {ComponentKind.KnownNames} (set {section.Path}:{ComponentKind.TypeKey} when the section name is not the type).");
                continue;
            }

            if (section[ComponentKind.SharedKey] is { } sharedName)
            {
                var key = $"{kind.SharedSection}:{sharedName}";
                if (kind.SharedSection is null)
                {
                    Error($"{section.Path}:{ComponentKind.SharedKey}: a {kind.Name} cannot be shared; shared kinds are circuit breakers, token buckets, concurrency limiters and retry budgets.");
                }
                else if (!_plan.Components.ContainsKey(key) && !_plan.Invalid.Contains(key))
                {
                    // One declared with errors is reported as such: calling it undeclared would send the reader to look for a missing section.
                    Error($"{section.Path}:{ComponentKind.SharedKey} refers to {kind.Name} '{sharedName}', which is not declared (in code, or under {PathOf(key)}).");
                }

                foreach (var extra in section.GetChildren().Where(child => child.Key is not (ComponentKind.TypeKey or ComponentKind.SharedKey) && ConfigurationMessages.HasValues(child)))
                {
                    Error($"{extra.Path} cannot be set on a strategy that refers to a shared instance: set it under {PathOf(key)}.");
                }

                // The same instance twice in one pipeline sees every call twice: a breaker counts it twice, a limiter
                // takes its permits twice.
                if (!sharedBy.TryAdd(key, entry.Path))
                {
                    Error($"{entry.Path} names '{sectionName}', which refers to {kind.Name} '{sharedName}' as {sharedBy[key]} does; a pipeline goes through a shared instance once.");
                }

                keys.Add(key);
                continue;
            }

            var localKey = $"{PipelinesSection}:{pipeline.Key}:{sectionName}";
            Plan(kind, localKey, $"{pipeline.Key}/{sectionName}", null, pushed, allowRetryBudget: true);
            keys.Add(localKey);
        }

        foreach (var child in pipeline.GetChildren().Where(child => !used.Contains(child.Key) && !namedByMalformed.Contains(child.Key) && ConfigurationMessages.HasValues(child)))
        {
            Error($"{child.Path} is not listed in {strategies.Path}.");
        }

        if (_plan.Errors.Count == errors)
        {
            _plan.Pipelines[pipeline.Key] = new PipelineLayout(keys);
        }
    }

    /// <summary>Computes one component's options: defaults, then code, then configuration (or options pushed since), checked.</summary>
    private void Plan(ComponentKind kind, string key, string name, Action<object>? configure, IReadOnlyDictionary<string, PushedOptions> pushed, bool allowRetryBudget)
    {
        var errors = _plan.Errors.Count;
        PlanOptions(kind, key, name, configure, pushed, allowRetryBudget);
        if (_plan.Errors.Count > errors)
        {
            _plan.Invalid.Add(key);
        }
    }

    private void PlanOptions(ComponentKind kind, string key, string name, Action<object>? configure, IReadOnlyDictionary<string, PushedOptions> pushed, bool allowRetryBudget)
    {
        var section = Section(key);
        var path = PathOf(key);
        var errors = _plan.Errors.Count;
        if (section?.Value is { } value)
        {
            // The binder skips a value where it expects an object: the component would run on defaults, silently.
            Error($"{path} must be a section of {kind.Name} options, not a value; was '{value}'.");
            return;
        }

        var unparsable = CheckKeys(kind, section, allowRetryBudget);
        if (section?[ComponentKind.TypeKey] is { } typeName && !string.Equals(typeName, kind.Name, StringComparison.OrdinalIgnoreCase))
        {
            // Only a pipeline's configured strategies take their kind from Type; elsewhere the section's place or the code
            // that binds it decides, and a Type that says otherwise was ignored: the section ran as another kind.
            var decidedBy = kind.SharedSection is { } shared && key.StartsWith(shared + ":", StringComparison.OrdinalIgnoreCase)
                ? $"a section under {PathOf(shared)} is a {kind.Name} (declare it under the section of that kind instead)"
                : $"the code of pipeline '{key.Split(':')[1]}' binds this section as a {kind.Name}";
            Error($"{section.Path}:{ComponentKind.TypeKey} says '{typeName}', but {decidedBy}.");
        }

        object options;
        if (pushed.TryGetValue(key, out var push) && push.SectionFingerprint == ConfigurationMessages.Fingerprint(section))
        {
            options = kind.Clone(push.Options);
            foreach (var hook in kind.TakeCodeHooks(options, configure))
            {
                var code = configure is null ? "no code sets one for it" : "its code sets another";
                Error($"{path}:{hook} cannot be pushed ({code}): hooks are set by the code that declares a strategy, so that no reload drops them; leave it unset in pushed options, which then keep the code's.");
            }
        }
        else
        {
            if (push is not null)
            {
                _plan.StalePushes.Add(key);
            }

            try
            {
                options = kind.Bind(configure, section, unparsable);
            }
            catch (InvalidOperationException exception)
            {
                Error(exception.InnerException is { } inner ? $"{exception.Message} {inner.Message}" : exception.Message);
                return;
            }
        }

        kind.Prepare(options, name, _timeProvider);
        try
        {
            kind.Validate(options);
        }
        catch (ArgumentException exception)
        {
            // Every option out of its range, each with its key, so a file with several mistakes is fixed in one pass;
            // an option whose value did not convert is reported as such already (it was checked at its default).
            IReadOnlyList<ArgumentException> failures = exception is OptionsOutOfRangeException several ? several.Failures : [exception];
            foreach (var failure in failures.Where(failure => !unparsable.Contains(failure.ParamName?[(failure.ParamName.LastIndexOf('.') + 1)..] ?? string.Empty)))
            {
                Error(ConfigurationMessages.ForKey(path, failure));
            }
        }

        var budget = kind == ComponentKind.Retry && section?[ComponentKind.RetryBudgetKey] is { } budgetName
            ? $"{ComponentKind.RetryBudget.SharedSection}:{budgetName}"
            : null;
        if (_plan.Errors.Count == errors)
        {
            _plan.Components[key] = new PlannedComponent(kind, key, name, options, budget);
        }
        else if (budget is not null)
        {
            _unplannedBudgetReferences.Add((key, budget));
        }
    }

    /// <summary>Reports unknown keys, misshapen values and values that do not convert.</summary>
    /// <returns>The options whose values do not convert: binding leaves them out.</returns>
    private IReadOnlySet<string> CheckKeys(ComponentKind kind, IConfigurationSection? section, bool allowRetryBudget)
    {
        if (section is null)
        {
            return NoOptions;
        }

        HashSet<string>? unparsable = null;
        foreach (var child in section.GetChildren().Where(ConfigurationMessages.HasValues))
        {
            var property = kind.Properties.FirstOrDefault(property => string.Equals(property.Name, child.Key, StringComparison.OrdinalIgnoreCase));
            if (property is not null && child.Value is { } value && ConfigurationMessages.ForUnparsable(child.Path, property.PropertyType, value) is { } message)
            {
                Error(message);
                (unparsable ??= new(StringComparer.OrdinalIgnoreCase)).Add(property.Name);
            }

            var known = property is not null
                || string.Equals(child.Key, ComponentKind.TypeKey, StringComparison.OrdinalIgnoreCase)
                || (allowRetryBudget && kind == ComponentKind.Retry && string.Equals(child.Key, ComponentKind.RetryBudgetKey, StringComparison.OrdinalIgnoreCase));
            if (known && (child.Value is null || child.GetChildren().Any(ConfigurationMessages.HasValues)))
            {
                // The binder skips a section where it expects a value: the option would keep its default, silently.
                Error($"{child.Path} must be a value, not a section.");
            }
            else if (!known)
            {
                var names = kind.Properties.Select(property => property.Name);
                if (allowRetryBudget && kind == ComponentKind.Retry)
                {
                    names = names.Append(ComponentKind.RetryBudgetKey);
                }

                Error($"{child.Path} is not an option of {kind.Name}; known options: {string.Join(", ", names)}.");
            }
        }

        return unparsable ?? NoOptions;
    }

    private void ResolveBudgets(Func<string, bool> isLive)
    {
        foreach (var component in _plan.Components.Values.ToList())
        {
            if (component.BudgetKey is { } key
                && !(_plan.Components.TryGetValue(key, out var budget) && budget.Kind == ComponentKind.RetryBudget) && !isLive(key))
            {
                if (!_plan.Invalid.Contains(key))
                {
                    UndeclaredBudget(component.Key, key);
                }

                // A budget declared with errors is reported already; the retry cannot be planned without it either way.
                _plan.Components.Remove(component.Key);
                _plan.Invalid.Add(component.Key);
            }
        }

        foreach (var (retry, key) in _unplannedBudgetReferences)
        {
            if (!(_plan.Components.TryGetValue(key, out var budget) && budget.Kind == ComponentKind.RetryBudget) && !isLive(key) && !_plan.Invalid.Contains(key))
            {
                UndeclaredBudget(retry, key);
            }
        }
    }

    private void UndeclaredBudget(string retry, string key) =>
        Error($"{PathOf(retry)}:{ComponentKind.RetryBudgetKey} refers to retry budget '{key[(key.IndexOf(':') + 1)..]}', which is not declared (in code, or under {PathOf(key)}).");
}
