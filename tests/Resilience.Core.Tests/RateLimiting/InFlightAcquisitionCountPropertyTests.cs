using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Resilience.Tests.RateLimiting;

/// <summary>The concurrency limiter's acquisition count: 31 bits in its state word plus half laps counted beside it.</summary>
public class InFlightAcquisitionCountPropertyTests
{
    private const string Seed = "(1618033988,1414213563)";

    [Property(MaxTest = 1000, Replay = Seed)]
    public Property The_full_count_is_rebuilt_whether_or_not_the_last_half_lap_was_counted_yet(uint laps, int offset, bool nearEnd, bool lagging, int inUse, bool waiting)
    {
        // Counts just after or just before a half-lap boundary, where the 31-bit field's top bit flips.
        const int HalfLap = 1 << 30;
        var within = offset & (HalfLap - 1);
        var count = ((long)laps << 30) + (nearEnd ? HalfLap - 1 - within : within);
        var halfLaps = count >> 30;

        // The acquirer that completed a half lap counts it just after its swap; a reader may come in between.
        if (lagging && halfLaps > 0)
        {
            halfLaps--;
        }

        var state = (count << 33) | (waiting ? 1L << 32 : 0) | (long)(uint)inUse;
        var rebuilt = InFlightLimiter.CountAcquisitions(state, halfLaps);
        return (rebuilt == count).Label($"count {count}, half laps read {halfLaps}: rebuilt {rebuilt}");
    }

    [Property(MaxTest = 300, Replay = Seed)]
    public Property Counting_from_any_start_through_a_boundary_is_exact(uint offsetSeed, bool halfBoundary, byte stepSeed)
    {
        // Start a little before a half-lap or full-lap boundary of the 31-bit field, then acquire through it.
        var steps = 1 + (stepSeed % 64);
        var boundary = halfBoundary ? (1L << 30) * ((offsetSeed % 7) + 1) : (1L << 31) * ((offsetSeed % 5) + 1);
        var start = boundary - 1 - (offsetSeed % steps);
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 }, start);
        for (var i = 0; i < steps; i++)
        {
            limiter.AttemptAcquire().Dispose();
        }

        // The half lap must be counted by the acquisition that completed it, not left to the reader's one-lap tolerance.
        var counted = limiter.GetStatistics()!.TotalSuccessfulLeases;
        return (counted == start + steps).Label($"start {start}, steps {steps}: counted {counted}")
            .And((limiter.HalfLapsCounted == (start + steps) >> 30).Label($"half laps counted {limiter.HalfLapsCounted}"));
    }
}
