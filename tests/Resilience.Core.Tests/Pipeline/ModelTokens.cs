namespace Resilience.Tests.Pipeline;

/// <summary>
/// The tokens of one run of a scenario, by name: the caller's, and the ones each strategy passes inward from its entry
/// ("s0") or its exit ("s0x"). The strategies' own tokens are never cancelled.
/// </summary>
internal sealed class ModelTokens : IDisposable
{
    public const string Caller = "caller";

    private readonly Dictionary<string, CancellationTokenSource> _sources = [];
    private readonly Dictionary<CancellationToken, string> _names = [];

    public ModelTokens()
    {
        CallerSource = Source(Caller);
    }

    public CancellationTokenSource CallerSource { get; }

    public static string StrategyName(int index) => $"s{index}";

    public static string ExitName(int index) => $"s{index}x";

    public CancellationToken Token(string name)
    {
        lock (_sources)
        {
            return Source(name).Token;
        }
    }

    public string NameOf(CancellationToken token)
    {
        lock (_sources)
        {
            return _names.TryGetValue(token, out var name) ? name : token == CancellationToken.None ? "none" : "unknown";
        }
    }

    public void Dispose()
    {
        foreach (var source in _sources.Values)
        {
            source.Dispose();
        }
    }

    private CancellationTokenSource Source(string name)
    {
        if (!_sources.TryGetValue(name, out var source))
        {
            source = new CancellationTokenSource();
            _sources.Add(name, source);
            _names.Add(source.Token, name);
        }

        return source;
    }
}
