using System.Runtime.InteropServices;

namespace Resilience;

/// <summary>
/// The words a <see cref="TokenBucketLimiter"/>'s grants write: the arrival time and what the totals are derived with, on
/// a cache line of their own.
/// </summary>
/// <remarks>
/// Two cores taking permits from one bucket pass the line holding the arrival between them on every grant. Any field
/// on that line goes with it: when the bucket's settings, clock and origin shared it, every call on the other core
/// missed its cache reading them (two threads on one bucket: 19.4-24.7 ns a call in seven benchmark runs, 16.9 and
/// 17.8 ns in two with the line apart).
/// The words sit 64 bytes into a 192-byte block, so no cache line they touch holds a field before or after the block,
/// wherever the object is placed.
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = 192)]
internal struct TokenBucketLedger
{
    /// <summary>The theoretical arrival time (scaled), or an options change's marker while the change moves it.</summary>
    [FieldOffset(64)]
    public long Arrival;

    /// <summary>Scaled time the arrival jumped over (the bucket was full: max(arrival, now) took now). Only grows.</summary>
    [FieldOffset(72)]
    public long Skipped;

    /// <summary>
    /// Permits granted without a lease of their own: the extra permits of a lease of several, and every permit a waiter
    /// reserves (a waiter is no lease until it is served). Only grows.
    /// </summary>
    [FieldOffset(80)]
    public long Unleased;

    /// <summary>
    /// Leases the arrival does not show: a waiter served (its reservation was booked unleased), and the permits of a
    /// cancelled or disposed waiter given back (the arrival moved back over a reservation booked unleased). Only grows.
    /// </summary>
    [FieldOffset(88)]
    public long Credited;

    /// <summary>Writers between their swap of the arrival and their booking of it; readers of the totals wait for none.</summary>
    [FieldOffset(96)]
    public int Writers;
}
