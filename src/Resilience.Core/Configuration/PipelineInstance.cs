namespace Resilience.Configuration;

/// <summary>
/// One keyed instance of a pipeline: its own copies of the components the pipeline declares itself (each with its own
/// state, updated in place by every applied change as the pipeline's single instance is), and its built forms.
/// Components the pipeline takes by name from the shared ones are not copied: every instance goes through them.
/// </summary>
/// <remarks>Changed only under the runtime's lock; read without one by <see cref="Find"/>.</remarks>
internal sealed class PipelineInstance
{
    // The built forms by result type, published whole (copy on write) so a lookup on a call's path reads them without a
    // lock: almost always one.
    private (Type Result, object Pipeline)[] _views = [];

    public PipelineInstance(string key)
    {
        Key = key;
    }

    public string Key { get; }

    /// <summary>Gets the instance's own components, by component key (the same keys as the single instance's).</summary>
    public Dictionary<string, LiveComponent> Components { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets or sets the built pipeline, for a pipeline registered in code.</summary>
    public BuiltPipeline? Built { get; set; }

    /// <summary>Gets the built forms of a pipeline declared in configuration, by result type (<see cref="VoidResult"/> for untyped).</summary>
    public Dictionary<Type, PipelineVariant> Variants { get; } = [];

    /// <summary>Gets the telemetry registrations of what the code of a pipeline registered in code created itself.</summary>
    public List<IDisposable> Observed { get; } = [];

    /// <summary>Gets or sets the stamp of the last use, for the least-recently-used eviction (see <see cref="PipelineInstances"/>).</summary>
    public long LastUsed;

    /// <summary>Gets the strategies in service, outermost first.</summary>
    public IReadOnlyList<ResilienceStrategy> Strategies => Built?.Strategies ?? Variants.Values.FirstOrDefault()?.Strategies ?? [];

    /// <summary>Gets the built form for a result type, if there is one.</summary>
    public object? Find(Type result)
    {
        foreach (var (type, pipeline) in Volatile.Read(ref _views))
        {
            if (type == result)
            {
                return pipeline;
            }
        }

        return null;
    }

    /// <summary>Publishes a built form; under the runtime's lock.</summary>
    public void Publish(Type result, object pipeline) => Volatile.Write(ref _views, [.. _views, (result, pipeline)]);
}
