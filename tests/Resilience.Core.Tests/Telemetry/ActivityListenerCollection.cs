namespace Resilience.Tests.Telemetry;

/// <summary>The tests that listen to the Resilience activity source, which is process-wide: they run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class ActivityListenerCollection
{
    public const string Name = "Activity listeners";
}
