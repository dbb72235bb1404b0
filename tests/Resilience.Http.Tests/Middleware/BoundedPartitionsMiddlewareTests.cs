using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Http.Tests.Middleware;

/// <summary>
/// Our <see cref="BoundedPartitionedLimiter{TKey}"/> of token buckets (on a fake clock) as the global limiter of ASP.NET
/// Core's rate-limiting middleware, its key translated from the request (<see cref="PartitionedRateLimiter{TResource}.WithTranslatedKey"/>),
/// behind a real Kestrel server.
/// </summary>
public sealed class BoundedPartitionsMiddlewareTests
{
    private const string KeyHeader = "X-Key";
    private const string Slow = "slow";
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Each_key_has_its_own_bucket_and_the_cap_holds_under_two_thousand_keys()
    {
        var time = new FakeTimeProvider(Start);
        using var partitions = new BoundedPartitionedLimiter<string>(key => Bucket(key, time), maxPartitions: 100, idleTimeout: TimeSpan.FromMinutes(1));
        var mostPartitions = 0;
        await using var server = await StartAsync(partitions, context =>
        {
            // Requests come one at a time: what the handler sees is the count between two of them.
            mostPartitions = Math.Max(mostPartitions, partitions.Count);
            return context.Response.WriteAsync("ok", context.RequestAborted);
        });
        using var client = new HttpClient { BaseAddress = server.Address };

        // One key's requests meet one bucket: a burst of two, then a refusal with the exact wait (a second a permit).
        Assert.Equal(HttpStatusCode.OK, await StatusOf(client, "k"));
        Assert.Equal(HttpStatusCode.OK, await StatusOf(client, "k"));
        using (var refused = await SendAsync(client, "k"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), RejectionHeaders.RetryAfterOf(refused));
        }

        Assert.Equal(1, partitions.PartitionsCreated);

        // Two thousand keys, each its own fresh bucket: every one admitted, the partitions never past the cap.
        for (var i = 0; i < 2_000; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusOf(client, i.ToString(CultureInfo.InvariantCulture)));
        }

        Assert.Equal(2_001, partitions.PartitionsCreated);
        Assert.InRange(mostPartitions, 1, partitions.MaxPartitions);
        Assert.InRange(partitions.Count, 1, partitions.MaxPartitions);
        Assert.Equal(partitions.PartitionsCreated - partitions.Count, partitions.PartitionsEvicted);

        // "k" was least recently used: evicted past the cap, it comes back with a fresh bucket.
        Assert.Equal(HttpStatusCode.OK, await StatusOf(client, "k"));
        Assert.Equal(2_002, partitions.PartitionsCreated);
    }

    [Fact]
    public async Task Partitions_idle_on_the_fake_clock_are_evicted_and_a_refilling_one_is_kept()
    {
        var time = new FakeTimeProvider(Start);
        using var partitions = new BoundedPartitionedLimiter<string>(key => Bucket(key, time), maxPartitions: 50, idleTimeout: TimeSpan.FromMinutes(1));
        await using var server = await StartAsync(partitions, static context => context.Response.WriteAsync("ok", context.RequestAborted));
        using var client = new HttpClient { BaseAddress = server.Address };

        // 49 keys and a slow one fill the cap; the slow bucket (a permit every 1,000 s) is empty after one request.
        for (var i = 0; i < 49; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusOf(client, i.ToString(CultureInfo.InvariantCulture)));
        }

        Assert.Equal(HttpStatusCode.OK, await StatusOf(client, Slow));
        Assert.Equal(50, partitions.Count);

        // Two minutes on: the 49 buckets are full again (idle for 119 s), the slow one still refills.
        time.Advance(TimeSpan.FromMinutes(2));
        using (var refused = await SendAsync(client, Slow))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(880), RejectionHeaders.RetryAfterOf(refused));
        }

        Assert.Equal(50, partitions.PartitionsCreated);

        // A new key passes the cap: the trim evicts every partition idle past the timeout, and keeps the busy one.
        Assert.Equal(HttpStatusCode.OK, await StatusOf(client, "new"));
        Assert.Equal(49, partitions.PartitionsEvicted);
        Assert.Equal(2, partitions.Count);

        // An evicted key starts afresh; the slow key still has its bucket (and its debt).
        Assert.Equal(HttpStatusCode.OK, await StatusOf(client, "0"));
        Assert.Equal(52, partitions.PartitionsCreated);
        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusOf(client, Slow));
        Assert.Equal(52, partitions.PartitionsCreated);
    }

    [Fact]
    public async Task Stopping_the_server_disposes_none_of_the_limiters()
    {
        var time = new FakeTimeProvider(Start);
        using var partitions = new BoundedPartitionedLimiter<string>(key => Bucket(key, time));
        await using (var server = await RateLimitedServer.StartAsync(
            options =>
            {
                // Even a view that would dispose what it translates, were it disposed.
                options.GlobalLimiter = partitions.WithTranslatedKey<HttpContext>(static context => context.Request.Headers[KeyHeader].ToString(), leaveOpen: false);
            },
            static context => context.Response.WriteAsync("ok", context.RequestAborted)))
        {
            using var client = new HttpClient { BaseAddress = server.Address };
            Assert.Equal(HttpStatusCode.OK, await StatusOf(client, "k"));
        }

        // The host is stopped and disposed: the partitioned limiter and the key's bucket still answer.
        using var lease = partitions.AttemptAcquire("k");
        Assert.True(lease.IsAcquired);
        Assert.Equal(1, partitions.Count);
    }

    private static TokenBucketLimiter Bucket(string key, TimeProvider time) => new(new TokenBucketLimiterOptions
    {
        PermitsPerSecond = key == Slow ? 0.001 : 1,
        Burst = key == Slow ? 1 : 2,
        TimeProvider = time,
    });

    private static Task<RateLimitedServer> StartAsync(BoundedPartitionedLimiter<string> partitions, RequestDelegate handle) =>
        RateLimitedServer.StartAsync(
            options =>
            {
                // The test owns the partitioned limiter: the translated view leaves it open.
                options.GlobalLimiter = partitions.WithTranslatedKey<HttpContext>(static context => context.Request.Headers[KeyHeader].ToString(), leaveOpen: true);
                options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                options.OnRejected = RejectionHeaders.Write;
            },
            handle);

    private static async Task<HttpStatusCode> StatusOf(HttpClient client, string key)
    {
        using var response = await SendAsync(client, key);
        return response.StatusCode;
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add(KeyHeader, key);
        return client.SendAsync(request);
    }
}
