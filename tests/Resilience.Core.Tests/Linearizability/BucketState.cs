namespace Resilience.Tests.Linearizability;

/// <summary>
/// A token bucket's state in the reference model: its theoretical arrival time (in 1/256 of a tick since the bucket was
/// made, never before the round's now: a bucket is full at any arrival up to now) and the shape in force.
/// </summary>
internal readonly record struct BucketState(long Arrival, int Shape);
