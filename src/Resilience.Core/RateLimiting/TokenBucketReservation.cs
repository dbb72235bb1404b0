namespace Resilience;

/// <summary>Permits a <see cref="TokenBucketLimiter"/> reserved for a waiter: its slot in the arrival time and how long until it.</summary>
/// <param name="Arrival">The arrival time the reservation moved the bucket to (scaled).</param>
/// <param name="Wait">How long until the slot (scaled); zero or less when the permits were there at once.</param>
/// <param name="Cost">How far the reservation moved the arrival time (scaled), at the rate of <paramref name="Epoch"/>.</param>
/// <param name="PermitCount">How many permits.</param>
/// <param name="Epoch">The options in force when the slot was reserved: a slot is given back only under the same ones.</param>
internal readonly record struct TokenBucketReservation(long Arrival, long Wait, long Cost, int PermitCount, long Epoch)
{
    /// <summary>Gets whether the permits are not there yet: the caller must wait for them.</summary>
    public bool MustWait => Wait > 0;
}
