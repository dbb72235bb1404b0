namespace Resilience.Tests.RateLimiting;

/// <summary>
/// Tests that measure the process's heap: they run alone, after the parallel ones, since another test allocating at the
/// same time would count in their figures.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessMemoryCollection
{
    public const string Name = "Process memory";
}
