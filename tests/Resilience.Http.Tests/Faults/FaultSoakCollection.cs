namespace Resilience.Http.Tests.Faults;

/// <summary>
/// The fault soak tests run alone: each keeps many calls in flight against a real server, and counts the unobserved task
/// exceptions the process reports while it runs, which another test's would spoil.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FaultSoakCollection
{
    public const string Name = "HTTP fault soak";
}
