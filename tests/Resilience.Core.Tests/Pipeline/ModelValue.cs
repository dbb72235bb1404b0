namespace Resilience.Tests.Pipeline;

/// <summary>A result of a scenario's callback or fallback, which records its disposal in the run's trace.</summary>
internal sealed class ModelValue(string name, ModelRun run) : IDisposable
{
    public string Name { get; } = name;

    public void Dispose() => run.Add($"dispose {Name}");

    public override string ToString() => Name;
}
