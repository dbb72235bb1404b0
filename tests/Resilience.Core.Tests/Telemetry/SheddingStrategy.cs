namespace Resilience.Tests.Telemetry;

/// <summary>A custom strategy that refuses every call.</summary>
internal sealed class SheddingStrategy(string name) : ResilienceStrategy(name)
{
    protected internal override Entry Enter(ref StrategyContext context) => Entry.Reject(RejectionReason.Custom);
}
