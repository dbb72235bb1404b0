namespace Resilience.Configuration;

/// <summary>Everything a reading of the settings asks for, checked as a whole before any of it is applied.</summary>
internal sealed class SettingsPlan
{
    public Dictionary<string, PlannedComponent> Components { get; } = new(StringComparer.OrdinalIgnoreCase);

    public Dictionary<string, PipelineLayout> Pipelines { get; } = new(StringComparer.OrdinalIgnoreCase);

    public List<string> Errors { get; } = [];

    /// <summary>The pipelines whose settings cap their keyed instances (<c>MaxInstances</c>), by name.</summary>
    public Dictionary<string, int> InstanceCaps { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Components that are declared but whose options have errors: what refers to them is not told they are missing.</summary>
    public HashSet<string> Invalid { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Pushed options whose section changed since they were pushed: configuration wins, they are dropped.</summary>
    public List<string> StalePushes { get; } = [];
}
