namespace Resilience.Tests.Telemetry;

/// <summary>What the scripted first level of a fallback chain (<see cref="ScriptedFallbackLevel"/>) does when it runs.</summary>
internal enum FallbackLevelKind
{
    /// <summary>Serves its value at once.</summary>
    Serves,

    /// <summary>Throws from the level's delegate.</summary>
    Throws,

    /// <summary>Returns a task already faulted.</summary>
    Faults,

    /// <summary>Returns a task the driver completes with its value after 40 ms.</summary>
    ServesLater,

    /// <summary>Returns a task the driver faults after 40 ms.</summary>
    FailsLater,

    /// <summary>Serves -1 at once: a placeholder the fallback's own predicate calls a failure.</summary>
    ServesFailedResult,

    /// <summary>Returns a task that waits for the level's token, which the caller cancels (the driver, 40 ms on).</summary>
    CancelledLater,
}
