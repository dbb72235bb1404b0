using Microsoft.Extensions.Time.Testing;
using Resilience.Time;

namespace Resilience.Tests.Time;

public class MonotonicClockTests
{
    [Fact]
    public void Fake_provider_is_read_exactly_in_timespan_ticks()
    {
        var time = new FakeTimeProvider();
        var clock = MonotonicClock.From(time);
        var start = clock.NowTicks;

        time.Advance(TimeSpan.FromMilliseconds(1.5));

        Assert.False(clock.IsCoarse);
        Assert.Equal(TimeSpan.FromMilliseconds(1.5).Ticks, clock.NowTicks - start);
    }

    [Fact]
    public void System_provider_uses_the_coarse_tick_count()
    {
        var clock = MonotonicClock.From(TimeProvider.System);
        var before = Environment.TickCount64 * TimeSpan.TicksPerMillisecond;
        var now = clock.NowTicks;
        var after = Environment.TickCount64 * TimeSpan.TicksPerMillisecond;

        Assert.True(clock.IsCoarse);
        Assert.InRange(now, before, after);
        Assert.Same(TimeProvider.System, MonotonicClock.From(null).Provider);
    }

    [Theory]
    [InlineData(1_000_000_000L, 1_700_000_000_123_456_789L)] // nanoseconds since the Unix epoch
    [InlineData(3_000_000L, 1_700_000_000_370_370_123L)]
    [InlineData(10_000_000L, 638_000_000_000_000_001L)]
    public void A_provider_of_any_frequency_is_converted_exactly_however_large_its_timestamps(long frequency, long timestamp)
    {
        var clock = MonotonicClock.From(new FixedTimestampProvider(frequency, timestamp));

        // Past 2^53 a product in floating point is off by several ticks.
        Assert.Equal((long)((Int128)timestamp * TimeSpan.TicksPerSecond / frequency), clock.NowTicks);
    }

    private sealed class FixedTimestampProvider(long frequency, long timestamp) : TimeProvider
    {
        public override long TimestampFrequency => frequency;

        public override long GetTimestamp() => timestamp;
    }
}
