namespace Resilience.Tests.CircuitBreaker;

/// <summary>
/// Tests that watch which thread numbers (<see cref="ThreadSlot"/>) the process holds: they run alone, since threads of
/// other tests take and give back numbers meanwhile.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ThreadSlotCollection
{
    public const string Name = "Thread slots";
}
