using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Http.Tests.Middleware;

/// <summary>
/// Our <see cref="InFlightLimiter"/> with a queue as a named policy of ASP.NET Core's rate-limiting middleware
/// (<c>RequireRateLimiting</c>), behind a real Kestrel server whose handler holds each request until the test lets it go.
/// </summary>
public sealed class InFlightMiddlewareTests
{
    private const string Policy = "in-flight";
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(QueueProcessingOrder.OldestFirst, new[] { 1, 2, 3, 4, 5 }, 6, "Queue limit reached")]
    [InlineData(QueueProcessingOrder.NewestFirst, new[] { 1, 2, 6, 5, 4 }, 3, null)]
    public async Task Queued_requests_are_served_in_queue_order_and_never_more_than_the_limit_run(
        QueueProcessingOrder order, int[] expectedEntries, int rejected, string? reason)
    {
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions
        {
            PermitLimit = 2,
            QueueLimit = 3,
            QueueProcessingOrder = order,
            TimeProvider = new FakeTimeProvider(Start),
        });
        var held = new HeldRequests();
        await using var server = await StartAsync(limiter, held);
        using var client = new HttpClient { BaseAddress = server.Address };
        var responses = new Dictionary<int, Task<HttpResponseMessage>>();

        // 1 and 2 hold both permits.
        for (var id = 1; id <= 2; id++)
        {
            responses[id] = SendAsync(client, id);
            Assert.Equal(id, await held.NextEntryAsync());
        }

        // 3, 4 and 5 queue, in that order.
        for (var id = 3; id <= 5; id++)
        {
            responses[id] = SendAsync(client, id);
            var queued = id - 2;
            await Eventually.True(() => limiter.GetStatistics()!.CurrentQueuedCount == queued);
        }

        // 6 finds the queue full: refused (oldest first), or it drops the oldest waiter, 3 (newest first).
        responses[6] = SendAsync(client, 6);
        using (var refused = await responses[rejected])
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal(reason, RejectionHeaders.ReasonOf(refused));
        }

        await Eventually.True(() => limiter.GetStatistics()!.CurrentQueuedCount == 3);

        // Each answer frees one permit: exactly one waiter comes in, the one the order names.
        var released = 0;
        var entered = new List<int> { 1, 2 };
        while (entered.Count < expectedEntries.Length)
        {
            var id = entered[released++];
            held.Release(id);
            using (var answered = await responses[id])
            {
                Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
            }

            entered.Add(await held.NextEntryAsync());
        }

        while (released < entered.Count)
        {
            var id = entered[released++];
            held.Release(id);
            using var answered = await responses[id];
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        }

        Assert.Equal(expectedEntries, entered);
        Assert.Equal(expectedEntries, held.Entered);
        Assert.Equal(2, held.MostRunning);

        // Four requests failed the middleware's AttemptAcquire before queueing or being refused; one was refused (or dropped).
        await Eventually.True(() => limiter.GetStatistics()!.CurrentAvailablePermits == 2);
        var statistics = limiter.GetStatistics()!;
        Assert.Equal(0, statistics.CurrentQueuedCount);
        Assert.Equal(5, statistics.TotalSuccessfulLeases);
        Assert.Equal(5, statistics.TotalFailedLeases);
    }

    [Theory]
    [InlineData(QueueProcessingOrder.OldestFirst, new[] { 1, 3, 4 })]
    [InlineData(QueueProcessingOrder.NewestFirst, new[] { 1, 4, 3 })]
    public async Task A_client_that_gives_up_while_queued_frees_its_place(QueueProcessingOrder order, int[] expectedEntries)
    {
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions
        {
            PermitLimit = 1,
            QueueLimit = 2,
            QueueProcessingOrder = order,
            TimeProvider = new FakeTimeProvider(Start),
        });
        var held = new HeldRequests();
        await using var server = await StartAsync(limiter, held);
        using var client = new HttpClient { BaseAddress = server.Address };

        var first = SendAsync(client, 1);
        Assert.Equal(1, await held.NextEntryAsync());

        using var givingUp = new CancellationTokenSource();
        var abandoned = SendAsync(client, 2, givingUp.Token);
        await Eventually.True(() => limiter.GetStatistics()!.CurrentQueuedCount == 1);
        var third = SendAsync(client, 3);
        await Eventually.True(() => limiter.GetStatistics()!.CurrentQueuedCount == 2);

        // The client gives up: the connection closes, the server aborts the request, its waiter leaves the queue.
        await givingUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        await Eventually.True(() => limiter.GetStatistics()!.CurrentQueuedCount == 1);

        // Its place is free: a newcomer queues (with oldest first a full queue would refuse it; with newest first it
        // would drop 3).
        var fourth = SendAsync(client, 4);
        await Eventually.True(() => limiter.GetStatistics()!.CurrentQueuedCount == 2);

        var responses = new Dictionary<int, Task<HttpResponseMessage>> { [1] = first, [3] = third, [4] = fourth };
        var entered = new List<int> { 1 };
        for (var i = 0; i < 3; i++)
        {
            held.Release(entered[i]);
            using (var answered = await responses[entered[i]])
            {
                Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
            }

            if (i < 2)
            {
                entered.Add(await held.NextEntryAsync());
            }
        }

        Assert.Equal(expectedEntries, entered);
        Assert.DoesNotContain(2, held.Entered);
        Assert.Equal(1, held.MostRunning);

        // Nothing leaked: no waiter, every permit free, and a later request is served at once. The waiter that left got
        // no lease, so it is no failed lease: the failures are the AttemptAcquire of 2, 3 and 4 before they queued.
        await Eventually.True(() => limiter.GetStatistics()!.CurrentAvailablePermits == 1);
        var statistics = limiter.GetStatistics()!;
        Assert.Equal(0, statistics.CurrentQueuedCount);
        Assert.Equal(3, statistics.TotalSuccessfulLeases);
        Assert.Equal(3, statistics.TotalFailedLeases);

        var later = SendAsync(client, 5);
        Assert.Equal(5, await held.NextEntryAsync());
        held.Release(5);
        using var served = await later;
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Theory]
    [InlineData(QueueProcessingOrder.OldestFirst)]
    [InlineData(QueueProcessingOrder.NewestFirst)]
    public async Task Under_concurrent_load_no_more_than_the_limit_run_and_every_queued_request_is_served(QueueProcessingOrder order)
    {
        const int Limit = 4;
        const int Requests = 200;
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions
        {
            PermitLimit = Limit,
            QueueLimit = Requests,
            QueueProcessingOrder = order,
            TimeProvider = new FakeTimeProvider(Start),
        });
        var running = new RunningCount();
        await using var server = await RateLimitedServer.StartAsync(
            options =>
            {
                options.AddPolicy(Policy, _ => RateLimitPartition.Get("all", _ => limiter));
                options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            },
            async context =>
            {
                running.Enter();

                // Gives other requests' threads the time to come in while this one holds its permit.
                for (var i = 0; i < 10; i++)
                {
                    await Task.Yield();
                }

                running.Exit();
                await context.Response.WriteAsync("ok", context.RequestAborted);
            },
            Policy);
        using var client = new HttpClient { BaseAddress = server.Address };

        var responses = await Task.WhenAll(Enumerable.Range(0, Requests).Select(async _ =>
        {
            using var response = await client.GetAsync("/");
            return response.StatusCode;
        }));

        Assert.All(responses, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.InRange(running.Most, 1, Limit);
        await Eventually.True(() => limiter.GetStatistics()!.CurrentAvailablePermits == Limit);
        var statistics = limiter.GetStatistics()!;
        Assert.Equal(0, statistics.CurrentQueuedCount);
        Assert.Equal(Requests, statistics.TotalSuccessfulLeases);
    }

    private static Task<RateLimitedServer> StartAsync(InFlightLimiter limiter, HeldRequests held) =>
        RateLimitedServer.StartAsync(
            options =>
            {
                options.AddPolicy(Policy, _ => RateLimitPartition.Get("all", _ => limiter));
                options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                options.OnRejected = RejectionHeaders.Write;
            },
            held.HandleAsync,
            Policy);

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, int id, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add(HeldRequests.IdHeader, id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return client.SendAsync(request, cancellationToken);
    }
}
