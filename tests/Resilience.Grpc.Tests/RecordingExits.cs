using System.Collections.Concurrent;

namespace Resilience.Grpc.Tests;

/// <summary>A strategy that records how the pipeline judged each call it exits.</summary>
internal sealed class RecordingExits(ConcurrentQueue<ExitOutcome> exits) : ResilienceStrategy("recording")
{
    protected override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
    {
        exits.Enqueue(outcome);
        return ExitAction.Continue;
    }
}
