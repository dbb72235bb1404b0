namespace Resilience.Tests.Composite;

/// <summary>
/// A waiter's slot in <see cref="TokenBucketModel"/>: the arrival time its reservation moved the bucket to, how far it
/// moved it, and the options changes made before it.
/// </summary>
internal readonly record struct TokenBucketModelSlot(long Arrival, long Cost, long Changes);
