using Microsoft.Extensions.Time.Testing;
using Resilience.Tests.Allocation;
using Resilience.Tests.Timeout;

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
    public void The_shortest_and_longest_max_ages_serve_exactly_as_long_as_they_say()
    {
        var time = new FakeTimeProvider();
        var brief = new LastKnownGood<string, int>(TimeSpan.FromTicks(1), capacity: 1, timeProvider: time);
        var forever = new LastKnownGood<string, int>(TimeSpan.MaxValue, capacity: 10_000_000, timeProvider: time);
        brief.Record("a", 1);
        forever.Record("a", 1);

        Assert.True(brief.TryGet("a", out _));
        time.Advance(TimeSpan.FromTicks(1));
        Assert.True(brief.TryGet("a", out _));
        time.Advance(TimeSpan.FromTicks(1));
        Assert.False(brief.TryGet("a", out _));

        time.Advance(TimeSpan.FromDays(365 * 1000));
        Assert.True(forever.TryGet("a", out var value));
        Assert.Equal(1, value);

        Assert.Throws<ArgumentOutOfRangeException>(() => new LastKnownGood<string, int>(TimeSpan.Zero));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LastKnownGood<string, int>(TimeSpan.FromSeconds(1), capacity: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LastKnownGood<string, int>(TimeSpan.FromSeconds(1), capacity: 10_000_001));
    }

    [Fact]
    public void A_result_recorded_earlier_but_stored_later_never_replaces_a_newer_one_of_the_same_key()
    {
        var time = new FakeTimeProvider();
        var hooked = new HookedTimeProvider(time);
        var lastGood = new LastKnownGood<string, string>(TimeSpan.FromHours(1), timeProvider: hooked);
        lastGood.Record("key", "first");

        // "older" reads the clock, then another call records "newer" a second later before "older" is stored.
        hooked.AfterNextRead(() =>
        {
            time.Advance(TimeSpan.FromSeconds(1));
            lastGood.Record("key", "newer");
        });
        lastGood.Record("key", "older");

        Assert.True(lastGood.TryGet("key", out var kept));
        Assert.Equal("newer", kept);
        Assert.Equal(1, lastGood.Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_result_an_inner_fallback_served_is_not_recorded_as_the_last_good_one(bool servedLater)
    {
        var lastGood = new LastKnownGood<string, string>(TimeSpan.FromHours(1), timeProvider: new FakeTimeProvider());
        var placeholder = servedLater
            ? new FallbackLevel<string>("placeholder", static async _ => { await Task.Yield(); return "placeholder"; })
            : FallbackLevel<string>.FromValue("placeholder", "placeholder");
        var pipeline = new ResiliencePipelineBuilder<string>()
            .AddFallback(new FallbackOptions<string> { Levels = { lastGood.AsLevel(static state => (string)state!) } })
            .AddFallback(new FallbackOptions<string> { Levels = { placeholder } })
            .Build();

        Assert.Equal("fresh", await pipeline.ExecuteAsync(static (_, _) => new ValueTask<string>("fresh"), "key"));
        Assert.Equal("placeholder", await pipeline.ExecuteAsync(static (_, _) => ValueTask.FromException<string>(new IOException()), "key"));

        // A degraded result is not what the dependency last said: the outer level must keep serving the fresh one.
        Assert.True(lastGood.TryGet("key", out var kept));
        Assert.Equal("fresh", kept);
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

    [Fact]
    public async Task Count_matches_the_keys_held_when_threads_record_the_same_new_keys_at_once()
    {
        var lastGood = new LastKnownGood<CollidingKey, int>(TimeSpan.FromHours(1), capacity: 10_000);
        const int Keys = 200;
        using var start = new Barrier(2);

        // Two threads record the same keys in the same order: each new key is added by one of them and updated by the
        // other. Colliding keys with a slow comparison keep both threads looking the key up at the same time.
        var writers = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait();
                for (var key = 0; key < Keys; key++)
                {
                    lastGood.Record(new CollidingKey(key), key);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToArray();
        await Task.WhenAll(writers);

        Assert.Equal(Keys, lastGood.Count);
        Assert.All(Enumerable.Range(0, Keys), key => Assert.True(lastGood.TryGet(new CollidingKey(key), out _)));
    }

    [Fact]
    public async Task A_disposable_result_its_caller_owns_is_never_recorded_to_be_served_to_another_call()
    {
        var lastGood = new LastKnownGood<string, Lease>(TimeSpan.FromHours(1), timeProvider: new FakeTimeProvider());
        var placeholder = new Lease();
        var pipeline = new ResiliencePipelineBuilder<Lease>()
            .AddFallback(new FallbackOptions<Lease>
            {
                Levels = { lastGood.AsLevel(static state => (string)state!), FallbackLevel<Lease>.FromValue("placeholder", placeholder) },
            })
            .Build();

        // The caller owns the result it receives, and disposes it when done.
        var first = await pipeline.ExecuteAsync(static (_, _) => new ValueTask<Lease>(new Lease()), "key");
        first.Dispose();
        var degraded = await pipeline.ExecuteAsync(static (_, _) => ValueTask.FromException<Lease>(new IOException()), "key");

        Assert.Same(placeholder, degraded);
        Assert.False(degraded.Disposed);
        Assert.Equal(0, lastGood.Count);
    }

    /// <summary>A result its holder must dispose.</summary>
    private sealed class Lease : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }

    /// <summary>A key whose hash collides with every other and whose comparison takes a while.</summary>
    private sealed class CollidingKey(int id) : IEquatable<CollidingKey>
    {
        public int Id { get; } = id;

        public bool Equals(CollidingKey? other)
        {
            Thread.SpinWait(100);
            return other is not null && other.Id == Id;
        }

        public override bool Equals(object? obj) => Equals(obj as CollidingKey);

        public override int GetHashCode() => 0;
    }

    [Fact]
    public async Task A_call_without_a_key_succeeds_unrecorded_and_its_failure_falls_through_to_the_next_level()
    {
        var lastGood = new LastKnownGood<string, string>(TimeSpan.FromHours(1), timeProvider: new FakeTimeProvider());
        var pipeline = new ResiliencePipelineBuilder<string>()
            .AddFallback(new FallbackOptions<string> { Levels = { lastGood.AsLevel(state => (string)state!), FallbackLevel<string>.FromValue("default", "none") } })
            .Build();

        // The overloads without state pass none: there is no key to record or serve under.
        Assert.Equal("fresh", await pipeline.ExecuteAsync(static _ => new ValueTask<string>("fresh")));
        Assert.Equal("fresh", pipeline.Execute(static (_, _) => "fresh", (string?)null));
        Assert.Equal(0, lastGood.Count);
        Assert.Equal("none", await pipeline.ExecuteAsync(static _ => ValueTask.FromException<string>(new IOException())));
    }

    [Fact]
    public void Recording_a_key_already_held_allocates_nothing_through_a_pipeline_or_directly()
    {
        // Every successful call of a pipeline with this level records its result: for a key already held that is the
        // hot path, and it rewrites the entry in place.
        var lastGood = new LastKnownGood<string, int>(TimeSpan.FromHours(1), timeProvider: new FakeTimeProvider());
        var pipeline = new ResiliencePipelineBuilder<int>()
            .AddFallback(new FallbackOptions<int> { Levels = { lastGood.AsLevel(static state => (string)state!) } })
            .Build();
        const string Key = "product-7";
        var sum = 0L;
        var fewest = AllocatedBytes.FewestOfFiveRounds(() =>
        {
            for (var i = 0; i < 1_000; i++)
            {
                sum += pipeline.Execute(static (_, _) => 5, Key);
                lastGood.Record(Key, i);
            }
        });

        Assert.Equal(0, fewest);
        Assert.Equal(5 * 1_000 * 5, sum);
        Assert.True(lastGood.TryGet(Key, out var kept));
        Assert.Equal(999, kept);
    }

    [Fact]
    public async Task A_reader_never_sees_half_of_one_write_and_half_of_another()
    {
        // The entry is rewritten in place: a value of several words, written by two threads while a third reads, must
        // always come out as one write made it (both halves equal), and the timestamp must be that write's.
        var time = new StepTimeProvider();
        var lastGood = new LastKnownGood<string, Wide>(TimeSpan.FromDays(1), timeProvider: time);
        lastGood.Record("key", Wide.Of(0));
        using var start = new Barrier(3);
        var torn = 0;
        var stop = 0;

        Task Run(Action action) => Task.Factory.StartNew(action, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var writers = Enumerable.Range(1, 2).Select(writer => Run(() =>
        {
            start.SignalAndWait();
            for (long i = 1; i <= 200_000; i++)
            {
                lastGood.Record("key", Wide.Of((i * 2) + writer));
            }
        })).ToArray();
        var reader = Run(() =>
        {
            start.SignalAndWait();
            while (Volatile.Read(ref stop) == 0)
            {
                Assert.True(lastGood.TryGet("key", out var read));
                if (!read.IsOneWrite)
                {
                    Interlocked.Increment(ref torn);
                }
            }
        });

        await Task.WhenAll(writers);
        Volatile.Write(ref stop, 1);
        await reader;

        Assert.Equal(0, torn);
        Assert.True(lastGood.TryGet("key", out var last));
        Assert.True(last.IsOneWrite);
        Assert.True(last[0] > 0);
    }

    /// <summary>A value of 64 words, all equal when written: a write of it is never atomic, and takes a while.</summary>
    [System.Runtime.CompilerServices.InlineArray(64)]
    private struct Wide
    {
        private long _element;

        public readonly bool IsOneWrite
        {
            get
            {
                for (var i = 1; i < 64; i++)
                {
                    if (this[i] != this[0])
                    {
                        return false;
                    }
                }

                return true;
            }
        }

        public static Wide Of(long value)
        {
            var wide = default(Wide);
            ((Span<long>)wide).Fill(value);
            return wide;
        }
    }

    /// <summary>A clock whose every read is one tick later than the one before, whichever thread reads it.</summary>
    private sealed class StepTimeProvider : TimeProvider
    {
        private long _now;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Increment(ref _now);
    }
}
