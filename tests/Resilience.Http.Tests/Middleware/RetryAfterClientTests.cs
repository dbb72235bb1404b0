using System.Collections.Concurrent;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;

namespace Resilience.Http.Tests.Middleware;

/// <summary>
/// Both ends: a <see cref="ResilienceHandler"/> whose retry honours <c>Retry-After</c> (<see cref="HttpOutcomes.RetryAfterOf(Outcome{HttpResponseMessage})"/>
/// as the pipeline's hint) against a server whose rate-limiting middleware refuses with our token bucket's exact wait,
/// both on one fake clock.
/// </summary>
public sealed class RetryAfterClientTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task A_429_is_retried_after_the_wait_the_bucket_gave_and_no_sooner()
    {
        var time = new TimerWatchingTimeProvider(Start);
        var log = new ConcurrentQueue<(TimeSpan At, int Status)>();

        // A permit every 4 s, a burst of one.
        using var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 0.25, Burst = 1, TimeProvider = time });
        await using var server = await StartBehindAsync(bucket, status => log.Enqueue((time.GetUtcNow() - Start, status)));

        // The retry's own delay is an hour: only the server's Retry-After can make it shorter.
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time, RetryAfterHint = HttpOutcomes.RetryAfterOf }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 2, Delay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), UseJitter = false }, HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = new HttpClient(new ResilienceHandler(pipeline) { InnerHandler = new SocketsHttpHandler() }) { BaseAddress = server.Address };

        using (var first = await client.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        // The second finds the bucket empty: 429 with Retry-After 4; the retry waits exactly that on the fake clock.
        var second = client.GetAsync("/");
        Assert.Equal(TimeSpan.FromSeconds(4), await time.TimerCreated.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.False(second.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(4));
        using (var retried = await second.WaitAsync(TimeSpan.FromSeconds(30)))
        {
            Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        }

        // Every attempt, as the server saw it: the refused one, then its retry at the moment the bucket had a permit.
        Assert.Equal(
            [(TimeSpan.Zero, 200), (TimeSpan.Zero, 429), (TimeSpan.FromSeconds(4), 200)],
            log.ToArray());
        var statistics = bucket.GetStatistics()!;
        Assert.Equal(2, statistics.TotalSuccessfulLeases);
        Assert.Equal(0, statistics.CurrentAvailablePermits);
    }

    [Fact]
    public async Task A_wait_longer_than_the_retry_allows_ends_the_retries_with_the_429()
    {
        var time = new TimerWatchingTimeProvider(Start);
        var attempts = 0;

        // A permit every 100 s, past the client's MaxRetryAfter of 30 s.
        using var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 0.01, Burst = 1, TimeProvider = time });
        await using var server = await StartBehindAsync(bucket, _ => Interlocked.Increment(ref attempts));

        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time, RetryAfterHint = HttpOutcomes.RetryAfterOf }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 2, MaxRetryAfter = TimeSpan.FromSeconds(30) }, HttpOutcomes.IsTransientFailure)
            .Build();
        using var client = new HttpClient(new ResilienceHandler(pipeline) { InnerHandler = new SocketsHttpHandler() }) { BaseAddress = server.Address };

        using (var first = await client.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        using var refused = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(100), refused.Headers.RetryAfter!.Delta);
        Assert.Equal(2, Volatile.Read(ref attempts));
        Assert.False(time.TimerCreated.IsCompleted);
    }

    /// <summary>
    /// Starts a server behind ASP.NET Core's rate-limiting middleware over one bucket: a refused request gets a 429 with
    /// the bucket's Retry-After, an admitted one "ok"; <paramref name="arrived"/> sees each request's status.
    /// </summary>
    private static Task<RateLimitedServer> StartBehindAsync(TokenBucketLimiter bucket, Action<int> arrived) =>
        RateLimitedServer.StartAsync(
            options =>
            {
                options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(_ => RateLimitPartition.Get("all", _ => bucket));
                options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                options.OnRejected = (rejected, cancellationToken) =>
                {
                    arrived(StatusCodes.Status429TooManyRequests);
                    return RejectionHeaders.Write(rejected, cancellationToken);
                };
            },
            context =>
            {
                arrived(StatusCodes.Status200OK);
                return context.Response.WriteAsync("ok", context.RequestAborted);
            });
}
