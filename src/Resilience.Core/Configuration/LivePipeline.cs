namespace Resilience.Configuration;

/// <summary>A pipeline in service: registered in code (built once), or declared in configuration (rebuilt in place when its strategies change).</summary>
internal sealed class LivePipeline
{
    private LivePipeline(string name, PipelineRegistration? registration, PipelineLayout? layout)
    {
        Name = name;
        Registration = registration;
        Layout = layout;
    }

    public string Name { get; }

    /// <summary>Gets the code registration, for a pipeline registered in code.</summary>
    public PipelineRegistration? Registration { get; }

    /// <summary>Gets or sets the strategies, for a pipeline declared in configuration.</summary>
    public PipelineLayout? Layout { get; set; }

    /// <summary>Gets or sets the built pipeline, for a pipeline registered in code.</summary>
    public BuiltPipeline? Built { get; set; }

    /// <summary>Gets the sections the code of a pipeline registered in code bound (known once it is built).</summary>
    public HashSet<string> BoundSections { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Gets the checks the code of a pipeline registered in code added of its bound sections taken together: each is given
    /// the options a reading plans for a section (null for one not planned) and returns an error, or null.
    /// </summary>
    public List<Func<Func<string, object?>, string?>> Checks { get; } = [];

    /// <summary>Gets or sets the keyed instances, once one was asked for.</summary>
    public PipelineInstances? Instances { get; set; }

    /// <summary>Gets the built forms of a pipeline declared in configuration, by result type (<see cref="VoidResult"/> for untyped).</summary>
    public Dictionary<Type, PipelineVariant> Variants { get; } = [];

    public static LivePipeline FromCode(PipelineRegistration registration) => new(registration.Name, registration, null);

    public static LivePipeline FromConfiguration(string name, PipelineLayout layout) => new(name, null, layout);

    /// <summary>Gets the strategies in service, outermost first.</summary>
    public IReadOnlyList<ResilienceStrategy> Strategies => Built?.Strategies ?? Variants.Values.FirstOrDefault()?.Strategies ?? [];
}
