namespace Resilience.Benchmarks.Pipeline;

/// <summary>A strategy whose hooks do nothing: measures what the engine itself costs per strategy.</summary>
internal sealed class PassThroughStrategy : ResilienceStrategy
{
    protected internal override Entry Enter(ref StrategyContext context) => Entry.Admitted;

    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome) => ExitAction.Continue;
}
