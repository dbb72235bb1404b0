using System.Collections.Concurrent;

namespace Resilience.Tests.Pipeline;

/// <summary>A test strategy that records its hooks and lets each test script what they return.</summary>
internal sealed class RecordingStrategy : ResilienceStrategy
{
    private readonly ConcurrentQueue<string> _log;

    public RecordingStrategy(string name, ConcurrentQueue<string>? log = null)
        : base(name)
    {
        _log = log ?? new ConcurrentQueue<string>();
    }

    public ConcurrentQueue<string> Log => _log;

    public Func<Entry>? OnEnter { get; init; }

    public Func<ExitOutcome, int, ExitAction>? OnExit { get; init; }

    public Func<CancellationToken>? ReplaceToken { get; init; }

    public Func<object?, Outcome<string>>? Fallback { get; init; }

    public List<ExitOutcome> Outcomes { get; } = [];

    public List<CancellationToken> TokensAtExit { get; } = [];

    public int Exits;

    protected internal override Entry Enter(ref StrategyContext context)
    {
        _log.Enqueue($"enter {Name}");
        context.State = 42;
        if (ReplaceToken is not null)
        {
            context.CancellationToken = ReplaceToken();
        }

        return OnEnter?.Invoke() ?? Entry.Admitted;
    }

    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
    {
        _log.Enqueue($"exit {Name}");
        Assert.Equal(42, context.State);
        lock (Outcomes)
        {
            Outcomes.Add(outcome);
            TokensAtExit.Add(context.CancellationToken);
        }

        var exits = Interlocked.Increment(ref Exits);
        return OnExit?.Invoke(outcome, exits) ?? ExitAction.Continue;
    }

    protected internal override ValueTask<Outcome<TResult>> ProvideFallbackAsync<TResult, TState>(Outcome<TResult> outcome, TState state, string? pipelineName, CancellationToken cancellationToken)
    {
        _log.Enqueue($"fallback {Name}");
        var replacement = Fallback!(state);
        return new ValueTask<Outcome<TResult>>((Outcome<TResult>)(object)replacement);
    }
}
