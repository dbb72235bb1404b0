using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Fallback;

public class LastKnownGoodTests
{
    [Fact]
    public void A_cache_of_one_key_keeps_the_result_just_recorded()
    {
        var time = new FakeTimeProvider();
        var lastGood = new LastKnownGood<string, int>(TimeSpan.FromHours(1), capacity: 1, timeProvider: time);

        lastGood.Record("a", 1);
        time.Advance(TimeSpan.FromSeconds(1));
        lastGood.Record("b", 2);

        Assert.True(lastGood.TryGet("b", out var value));
        Assert.Equal(2, value);
        Assert.False(lastGood.TryGet("a", out _));
        Assert.Equal(1, lastGood.Count);
    }

    [Fact]
    public void Eviction_never_drops_the_key_just_recorded_when_timestamps_tie()
    {
        // A clock that does not move (or moves coarsely) gives several entries the same timestamp.
        var time = new FakeTimeProvider();
        var lastGood = new LastKnownGood<int, int>(TimeSpan.FromHours(1), capacity: 10, timeProvider: time);

        for (var key = 0; key < 1_000; key++)
        {
            lastGood.Record(key, key);
            Assert.True(lastGood.TryGet(key, out var value), $"key {key} was evicted as it was recorded");
            Assert.Equal(key, value);
        }
    }
}
