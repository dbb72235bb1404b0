namespace Resilience.Tests.Linearizability;

/// <summary>What a token bucket's operation in a checked history is.</summary>
internal enum BucketCallKind
{
    /// <summary><c>AttemptAcquire(Value)</c>: granted, or refused with its <c>RetryAfter</c> in ticks.</summary>
    Acquire,

    /// <summary><c>GetStatistics()</c>: the available permits.</summary>
    Statistics,

    /// <summary><c>UpdateOptions</c> to the shape numbered <c>Value</c>.</summary>
    Update,
}
