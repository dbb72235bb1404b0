namespace Resilience;

/// <summary>
/// The clocks read during one pass of a call (entering, exiting, or going on after an await); 0 until a strategy asks.
/// One value of two words, so that a new pass clears both with one store.
/// </summary>
internal struct ClockReadings
{
    /// <summary>The pipeline's timestamp.</summary>
    public long Timestamp;

    /// <summary>The coarse system clock, in ticks.</summary>
    public long CoarseTicks;
}
