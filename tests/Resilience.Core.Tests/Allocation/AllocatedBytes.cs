namespace Resilience.Tests.Allocation;

/// <summary>Measures what a piece of code allocates on the calling thread.</summary>
internal static class AllocatedBytes
{
    /// <summary>
    /// Runs <paramref name="round"/> five times and returns the fewest bytes one run allocated. The runtime may allocate
    /// once while it recompiles a method mid-round, which a cost per call would not explain: a path that allocates per
    /// call allocates in every round.
    /// </summary>
    public static long FewestOfFiveRounds(Action round)
    {
        var fewest = long.MaxValue;
        for (var i = 0; i < 5; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            round();
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return fewest;
    }
}
