namespace Resilience.Tests.Pipeline;

/// <summary>
/// One generated scenario of <see cref="EngineModelTests"/>: the scripts of the strategies (outermost first), the
/// callback's behaviour per attempt, and where the padding strategies go in the longer pipelines. A strategy's n-th
/// entry (exit) follows its n-th entry (exit) step, the last one repeating; likewise the callback's attempts. The caller's
/// token may be cancelled before the call starts.
/// </summary>
public sealed record ModelScenario(ModelStrategyScript[] Strategies, ModelCall[] Calls, int PaddingAt, bool CancelledAtStart)
{
    public override string ToString() =>
        $"calls [{string.Join(", ", Calls)}], padding at {PaddingAt}, cancelled at start {CancelledAtStart}\n"
        + string.Join("\n", Strategies.Select((script, index) => $"{ModelTokens.StrategyName(index)}: {script}"));
}
