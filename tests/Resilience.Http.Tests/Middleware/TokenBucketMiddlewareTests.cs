using System.Collections.Concurrent;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Http.Tests.Middleware;

/// <summary>
/// Our <see cref="TokenBucketLimiter"/> per request header, as the partitions of ASP.NET Core's rate-limiting middleware's
/// global limiter (<see cref="PartitionedRateLimiter.Create{TResource, TPartitionKey}"/>), on a fake clock, behind a real
/// Kestrel server and a real <see cref="HttpClient"/>.
/// </summary>
public sealed class TokenBucketMiddlewareTests
{
    private const string KeyHeader = "X-Key";
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    // Rates whose intervals are whole ticks, so the model's arithmetic is the bucket's exactly.
    private static readonly Dictionary<string, (double Rate, int Burst)> Shapes = new()
    {
        ["a"] = (4, 2),
        ["b"] = (5, 1),
        ["c"] = (2, 3),
    };

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Each_key_gets_the_bucket_arithmetic_and_the_exact_retry_after(int seed)
    {
        var time = new FakeTimeProvider(Start);
        var buckets = new ConcurrentDictionary<string, TokenBucketLimiter>();
        await using var server = await StartAsync(time, buckets, maxWait: TimeSpan.Zero);
        using var client = new HttpClient { BaseAddress = server.Address };

        var random = new Random(seed);
        var models = new Dictionary<string, BucketModel>();
        var keys = Shapes.Keys.ToArray();

        // The middleware's partitioned limiter evicts a partition idle (here: full) for 10 s, with a timer of its own:
        // the schedule spans less than that, so every key keeps one bucket and the model follows it.
        var budget = TimeSpan.FromSeconds(9);
        for (var step = 0; step < 150; step++)
        {
            if (random.Next(3) == 0 && budget > TimeSpan.Zero)
            {
                var advance = TimeSpan.FromMilliseconds(Math.Min(random.Next(1, 300), budget.TotalMilliseconds));
                budget -= advance;
                time.Advance(advance);
                continue;
            }

            var key = keys[random.Next(keys.Length)];
            var now = time.GetUtcNow();
            if (!models.TryGetValue(key, out var model))
            {
                model = models[key] = new BucketModel(TimeSpan.FromSeconds(1 / Shapes[key].Rate), Shapes[key].Burst, now);
            }

            var admitted = model.TryTake(now, out var wait);
            using var response = await SendAsync(client, key);
            Assert.Equal(admitted ? HttpStatusCode.OK : HttpStatusCode.TooManyRequests, response.StatusCode);
            if (admitted)
            {
                Assert.Null(RejectionHeaders.RetryAfterOf(response));
            }
            else
            {
                Assert.Equal(wait, RejectionHeaders.RetryAfterOf(response));
                Assert.Equal(TimeSpan.FromSeconds(Math.Ceiling(wait.TotalSeconds)), response.Headers.RetryAfter!.Delta);
            }
        }

        foreach (var (key, model) in models)
        {
            var statistics = buckets[key].GetStatistics()!;
            Assert.Equal(model.Granted, statistics.TotalSuccessfulLeases);

            // The middleware tries AttemptAcquire, then AcquireAsync when that fails: a rejected request is two refusals.
            Assert.Equal(2 * model.Refused, statistics.TotalFailedLeases);
            Assert.True(model.Refused > 0 && model.Granted > 0, $"{key}: the schedule must both admit and reject");
        }
    }

    [Fact]
    public async Task Waiting_requests_are_served_in_turn_when_the_clock_reaches_their_slots()
    {
        var time = new FakeTimeProvider(Start);
        var buckets = new ConcurrentDictionary<string, TokenBucketLimiter>();

        // "c": 2 a second (a permit every 500 ms), a burst of 3; a request may wait up to a second.
        await using var server = await StartAsync(time, buckets, maxWait: TimeSpan.FromSeconds(1));
        using var client = new HttpClient { BaseAddress = server.Address };

        await SpendBurstAsync(client);

        var bucket = buckets["c"];
        var first = SendAsync(client, "c");
        await QueuedAsync(bucket, 1);
        var second = SendAsync(client, "c");
        await QueuedAsync(bucket, 2);

        // A third would wait 1.5 s, past the maximum: refused at once with that wait.
        using (var refused = await SendAsync(client, "c"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal(TimeSpan.FromMilliseconds(1500), RejectionHeaders.RetryAfterOf(refused));
        }

        // The fake clock's timers fire inside Advance, and a served waiter leaves the count in that call.
        time.Advance(TimeSpan.FromMilliseconds(499));
        Assert.Equal(2, bucket.GetStatistics()!.CurrentQueuedCount);
        Assert.False(first.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, bucket.GetStatistics()!.CurrentQueuedCount);
        using (var served = await first)
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        Assert.False(second.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(0, bucket.GetStatistics()!.CurrentQueuedCount);
        using (var served = await second)
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        // Every request that waited or was refused first failed the middleware's AttemptAcquire; the one refused at
        // once failed its AcquireAsync too.
        var statistics = bucket.GetStatistics()!;
        Assert.Equal(5, statistics.TotalSuccessfulLeases);
        Assert.Equal(4, statistics.TotalFailedLeases);
        Assert.Equal(0, statistics.CurrentAvailablePermits);
    }

    [Fact]
    public async Task A_client_that_gives_up_while_waiting_gives_its_slot_back()
    {
        var time = new FakeTimeProvider(Start);
        var buckets = new ConcurrentDictionary<string, TokenBucketLimiter>();
        await using var server = await StartAsync(time, buckets, maxWait: TimeSpan.FromSeconds(1));
        using var client = new HttpClient { BaseAddress = server.Address };

        await SpendBurstAsync(client);

        var bucket = buckets["c"];
        var first = SendAsync(client, "c");
        await QueuedAsync(bucket, 1);
        using var givingUp = new CancellationTokenSource();
        var abandoned = SendAsync(client, "c", givingUp.Token);
        await QueuedAsync(bucket, 2);

        // The client gives up: the server aborts the request, and its waiter, the last to reserve, gives its slot back.
        await givingUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        await QueuedAsync(bucket, 1);

        // So the next request waits one second, within the maximum, not the 1.5 s a lost slot would have cost it.
        var next = SendAsync(client, "c");
        await QueuedAsync(bucket, 2);
        time.Advance(TimeSpan.FromMilliseconds(500));
        using (var served = await first)
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        time.Advance(TimeSpan.FromMilliseconds(500));
        using (var served = await next)
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        // The request that left got no lease and is no failed lease: the failures are the three AttemptAcquire calls.
        var statistics = bucket.GetStatistics()!;
        Assert.Equal(0, statistics.CurrentQueuedCount);
        Assert.Equal(5, statistics.TotalSuccessfulLeases);
        Assert.Equal(3, statistics.TotalFailedLeases);
    }

    private static Task<RateLimitedServer> StartAsync(FakeTimeProvider time, ConcurrentDictionary<string, TokenBucketLimiter> buckets, TimeSpan maxWait) =>
        RateLimitedServer.StartAsync(
            options =>
            {
                options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                    RateLimitPartition.Get(context.Request.Headers[KeyHeader].ToString(), key => buckets[key] = new TokenBucketLimiter(new TokenBucketLimiterOptions
                    {
                        PermitsPerSecond = Shapes[key].Rate,
                        Burst = Shapes[key].Burst,
                        MaxWait = maxWait,
                        TimeProvider = time,
                    })));
                options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                options.OnRejected = RejectionHeaders.Write;
            },
            static context => context.Response.WriteAsync("ok", context.RequestAborted));

    /// <summary>Spends the burst of key "c" (3 permits): each request is served at once.</summary>
    private static async Task SpendBurstAsync(HttpClient client)
    {
        for (var i = 0; i < 3; i++)
        {
            using var burst = await SendAsync(client, "c");
            Assert.Equal(HttpStatusCode.OK, burst.StatusCode);
        }
    }

    /// <summary>Waits until the bucket's waiters wait for <paramref name="permits"/> permits (the server runs the requests).</summary>
    private static Task QueuedAsync(TokenBucketLimiter bucket, int permits) =>
        Eventually.True(() => bucket.GetStatistics()!.CurrentQueuedCount == permits);

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string key, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add(KeyHeader, key);
        return client.SendAsync(request, cancellationToken);
    }
}
