namespace Resilience.Tests.Pipeline;

/// <summary>Stores values of its own in its per-call slot on entry and counts exits that find them intact.</summary>
internal sealed class SlotCheckingStrategy : ResilienceStrategy
{
    private readonly long _id;
    private readonly object _marker = new();
    private readonly bool _reject;
    private int _intact;
    private int _damaged;

    public SlotCheckingStrategy(long id, bool reject = false)
        : base($"slot-{id}")
    {
        _id = id;
        _reject = reject;
    }

    public int Intact => _intact;

    public int Damaged => _damaged;

    protected internal override Entry Enter(ref StrategyContext context)
    {
        if (_reject)
        {
            return Entry.Reject(RejectionReason.Custom);
        }

        context.State = _id;
        context.StateObject = _marker;
        return Entry.Admitted;
    }

    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
    {
        if (context.State == _id && ReferenceEquals(context.StateObject, _marker))
        {
            Interlocked.Increment(ref _intact);
        }
        else
        {
            Interlocked.Increment(ref _damaged);
        }

        return ExitAction.Continue;
    }
}
