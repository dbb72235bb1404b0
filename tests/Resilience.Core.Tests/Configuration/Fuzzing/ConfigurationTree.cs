namespace Resilience.Tests.Configuration.Fuzzing;

/// <summary>
/// A random resilience section with what it must give: the keys a reading must reject (each must be named by an error),
/// or, when there is none, the pipelines and option values the built instances must hold.
/// </summary>
internal sealed class ConfigurationTree
{
    public List<KeyValuePair<string, string?>> Settings { get; } = [];

    /// <summary>Gets the keys whose values are wrong: each must be named by an error, and the tree must be rejected.</summary>
    public List<string> Rejected { get; } = [];

    public Dictionary<string, List<ConfiguredStrategy>> Pipelines { get; } = [];

    /// <summary>Gets the shared instances declared, as <c>Kind/name</c>.</summary>
    public List<string> Shared { get; } = [];

    public List<ConfiguredOption> Options { get; } = [];

    /// <summary>Gets or sets whether pipeline <c>code</c> is registered in code (binding <see cref="CodeSections"/>), not declared in the tree.</summary>
    public bool HasCodePipeline { get; set; }

    /// <summary>The sections the code of pipeline <c>code</c> binds, outermost first.</summary>
    public static readonly ConfiguredStrategy[] CodeSections = [new("CircuitBreaker", "CircuitBreaker", null), new("Deadline", "Timeout", null)];

    public bool IsValid => Rejected.Count == 0;

    /// <summary>Sets a key unless the tree has it already (in any case: configuration keys ignore case).</summary>
    /// <returns>Whether the key was set.</returns>
    public bool Set(string key, string? value)
    {
        if (Settings.Any(pair => string.Equals(pair.Key, key, StringComparison.OrdinalIgnoreCase)))
        {
            return false;
        }

        Settings.Add(new(key, value));
        return true;
    }

    /// <summary>Sets a key whose value must be rejected, naming <paramref name="path"/>.</summary>
    public void Reject(string key, string? value, string path)
    {
        if (Set(key, value))
        {
            Rejected.Add(path);
        }
    }

    public Dictionary<string, string?> ToDictionary() => Settings.ToDictionary(pair => pair.Key, pair => pair.Value);

    public override string ToString() =>
        string.Join(Environment.NewLine, Settings.Select(pair => $"  {pair.Key} = {(pair.Value is null ? "null" : $"'{pair.Value}'")}"))
        + Environment.NewLine + "  rejected: " + string.Join(", ", Rejected);
}
