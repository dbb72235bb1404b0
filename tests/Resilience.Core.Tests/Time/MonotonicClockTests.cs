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
}
