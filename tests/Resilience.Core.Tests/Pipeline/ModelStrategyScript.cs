namespace Resilience.Tests.Pipeline;

/// <summary>What one scripted strategy does: per entry, per exit, and how its predicate judges.</summary>
public sealed record ModelStrategyScript(ModelEnterStep[] Enters, ModelExitStep[] Exits, ModelJudge Judge, ModelObserve Observe)
{
    public override string ToString() =>
        $"enter [{string.Join(", ", Enters.AsEnumerable())}] exit [{string.Join(", ", Exits.AsEnumerable())}] judge {Judge} observe {Observe}";
}
