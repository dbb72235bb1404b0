using System.Runtime.CompilerServices;

namespace Resilience.Time;

/// <summary>
/// A monotonic clock in <see cref="TimeSpan"/> ticks, read through a <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// For <see cref="TimeProvider.System"/> it reads the coarse clock <see cref="Environment.TickCount64"/> reads (through
/// <see cref="CoarseClock"/>), which costs a few nanoseconds instead of the ≈20 ns of a precise timestamp. Its resolution is the operating system's
/// timer tick (1 ms to 16 ms depending on the platform; 4 ms on a typical Linux kernel), which is
/// the precision bound of every decision taken with it: window buckets, break durations and token refills.
/// Any other provider (for example a fake clock in tests) is read exactly through
/// <see cref="TimeProvider.GetTimestamp"/>.
/// </remarks>
internal readonly struct MonotonicClock
{
    private readonly TimeProvider? _provider;
    private readonly long _frequency;

    private MonotonicClock(TimeProvider provider)
    {
        _provider = provider;
        _frequency = provider.TimestampFrequency;
    }

    /// <summary>Creates a clock over <paramref name="provider"/>; <see langword="null"/> means the system clock.</summary>
    public static MonotonicClock From(TimeProvider? provider) =>
        provider is null || ReferenceEquals(provider, TimeProvider.System) ? default : new MonotonicClock(provider);

    /// <summary>Gets the provider this clock reads.</summary>
    public TimeProvider Provider => _provider ?? TimeProvider.System;

    /// <summary>Gets whether this clock reads the coarse system tick count.</summary>
    public bool IsCoarse => _provider is null;

    /// <summary>Gets the coarsest resolution of the coarse system clock on the platforms .NET runs on (Windows' 15.6 ms timer tick).</summary>
    public static TimeSpan CoarseResolution { get; } = TimeSpan.FromMilliseconds(16);

    /// <summary>Gets the coarse system clock in <see cref="TimeSpan"/> ticks: what <see cref="NowTicks"/> reads for the system provider.</summary>
    public static long CoarseNowTicks => CoarseClock.Milliseconds * TimeSpan.TicksPerMillisecond;

    /// <summary>Reads <see cref="CoarseNowTicks"/> through <see cref="CoarseClock.ReadMilliseconds"/>, in a call of its own.</summary>
    /// <returns>The coarse system clock in <see cref="TimeSpan"/> ticks.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long ReadCoarseNowTicks() => CoarseClock.ReadMilliseconds() * TimeSpan.TicksPerMillisecond;

    /// <summary>Gets the current time in <see cref="TimeSpan"/> ticks from an arbitrary, fixed origin.</summary>
    public long NowTicks
    {
        get
        {
            var provider = _provider;
            if (provider is null)
            {
                return CoarseNowTicks;
            }

            // Integer arithmetic: past 2^53 (nanoseconds since 1970, ticks since year 1) a product in floating point is
            // off by several ticks. The usual frequencies divide by a constant: a multiplication and a shift.
            var timestamp = provider.GetTimestamp();
            return _frequency switch
            {
                TimeSpan.TicksPerSecond => timestamp,
                1_000_000_000 => timestamp / 100,
                var frequency => (long)((Int128)timestamp * TimeSpan.TicksPerSecond / frequency),
            };
        }
    }
}
