namespace Resilience.Configuration;

/// <summary>The strategies of a pipeline declared in configuration, outermost first, as component keys.</summary>
/// <param name="Keys">The component key of each strategy.</param>
internal sealed record PipelineLayout(IReadOnlyList<string> Keys)
{
    public bool SameAs(PipelineLayout? other) =>
        other is not null && Keys.SequenceEqual(other.Keys, StringComparer.OrdinalIgnoreCase);
}
