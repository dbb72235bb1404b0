namespace Resilience.Configuration;

/// <summary>The outcome of a change of resilience settings: applied as a whole, or rejected as a whole.</summary>
public sealed class ResilienceReloadResult
{
    internal ResilienceReloadResult(string source, DateTimeOffset time, bool applied, IReadOnlyList<string> errors, int updatedStrategies, int rebuiltPipelines)
    {
        Source = source;
        Time = time;
        IsApplied = applied;
        Errors = errors;
        UpdatedStrategies = updatedStrategies;
        RebuiltPipelines = rebuiltPipelines;
    }

    /// <summary>Gets what brought the change: <c>configuration</c> (a reload token), <c>reload</c> (an explicit call) or <c>code (key)</c> (pushed options).</summary>
    public string Source { get; }

    /// <summary>Gets when the change was read.</summary>
    public DateTimeOffset Time { get; }

    /// <summary>Gets whether the settings were applied; when <see langword="false"/>, nothing changed and the last good settings stay in force.</summary>
    public bool IsApplied { get; }

    /// <summary>Gets every error found, each naming the configuration key concerned; empty when applied.</summary>
    public IReadOnlyList<string> Errors { get; }

    /// <summary>Gets how many live strategies and shared instances took new options in place (their state kept).</summary>
    public int UpdatedStrategies { get; }

    /// <summary>Gets how many pipelines were rebuilt because their configured strategies were added, removed, reordered or retyped.</summary>
    public int RebuiltPipelines { get; }

    /// <inheritdoc />
    public override string ToString() => IsApplied
        ? $"Applied ({Source}): {UpdatedStrategies} strategies updated, {RebuiltPipelines} pipelines rebuilt."
        : $"Rejected ({Source}), {Errors.Count} error(s):\n{string.Join('\n', Errors)}";
}
