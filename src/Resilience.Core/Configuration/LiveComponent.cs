namespace Resilience.Configuration;

/// <summary>A component instance in service, and the options it was last given.</summary>
internal sealed class LiveComponent
{
    private ResilienceStrategy? _strategy;

    public LiveComponent(PlannedComponent planned, object instance, Action<object>? configure, bool codeBound, IDisposable tracking)
    {
        Kind = planned.Kind;
        Key = planned.Key;
        Name = planned.Name;
        Instance = instance;
        Options = planned.Options;
        Configure = configure;
        CodeBound = codeBound;
        Tracking = tracking;
    }

    public ComponentKind Kind { get; }

    public string Key { get; }

    public string Name { get; }

    public object Instance { get; }

    /// <summary>Gets or sets the options in force (replaced on every applied change).</summary>
    public object Options { get; set; }

    /// <summary>Gets the code's options, applied before configuration on every reading.</summary>
    public Action<object>? Configure { get; }

    /// <summary>Gets whether a pipeline's code bound this component (it lives as long as the runtime).</summary>
    public bool CodeBound { get; }

    /// <summary>Gets the telemetry registration, disposed when the component leaves service.</summary>
    public IDisposable Tracking { get; }

    /// <summary>Gets the strategy over the instance, one for every pipeline that uses it (predicates live with pipelines).</summary>
    public ResilienceStrategy Strategy => _strategy ??= Kind.CreateStrategy(Instance, Name);

    public ComponentSource ToSource() => new(Kind, Key, Name, Configure);
}
