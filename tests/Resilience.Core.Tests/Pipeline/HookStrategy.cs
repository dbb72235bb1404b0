namespace Resilience.Tests.Pipeline;

/// <summary>
/// A test strategy that passes its own token inward, may throw from its hooks, and records what each exit saw: how
/// often it ran, the outcome, and the token in force (which must be the one it passed inward).
/// </summary>
internal sealed class HookStrategy : ResilienceStrategy
{
    // Never cancelled and holding no timer: it needs no disposal.
    private readonly CancellationTokenSource _own = new();
    private int _entered;
    private int _exited;

    public HookStrategy(string name)
        : base(name)
    {
    }

    /// <summary>Gets or sets what Enter throws after replacing the token, if anything.</summary>
    public Exception? ThrowOnEnter { get; set; }

    /// <summary>Gets or sets what Exit throws, if anything.</summary>
    public Exception? ThrowOnExit { get; set; }

    /// <summary>Gets or sets the admission Enter asks the engine to await, if any.</summary>
    public Func<Task<Entry>>? Pending { get; set; }

    /// <summary>Gets the token this strategy passes inward.</summary>
    public CancellationToken Token => _own.Token;

    public int Entered => Volatile.Read(ref _entered);

    public int Exited => Volatile.Read(ref _exited);

    public List<ExitOutcome> Outcomes { get; } = [];

    /// <summary>Exits that saw another token than the one this strategy passed inward, or lost their state.</summary>
    public int Mismatches { get; private set; }

    protected internal override Entry Enter(ref StrategyContext context)
    {
        Interlocked.Increment(ref _entered);
        context.CancellationToken = _own.Token;
        context.State = 7;
        if (ThrowOnEnter is { } failure)
        {
            throw failure;
        }

        return Pending is { } pending ? Entry.Pending(pending()) : Entry.Admitted;
    }

    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
    {
        Interlocked.Increment(ref _exited);
        if (context.CancellationToken != _own.Token || context.State != 7)
        {
            Mismatches++;
        }

        Outcomes.Add(outcome);
        if (ThrowOnExit is { } failure)
        {
            throw failure;
        }

        return ExitAction.Continue;
    }
}
