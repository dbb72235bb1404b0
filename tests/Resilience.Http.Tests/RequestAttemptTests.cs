using System.Collections.Concurrent;
using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;

namespace Resilience.Http.Tests;

/// <summary>What each attempt of a request sends, seen from both ends: an inner handler that changes it, and the server.</summary>
public sealed class RequestAttemptTests
{
    private static readonly HttpRequestOptionsKey<int> SeenBy = new("attempt-seen-by");

    private static ResiliencePipeline<HttpResponseMessage> Retries(int attempts, CircuitBreaker? breaker = null)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryOptions { MaxRetryAttempts = attempts, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false }, HttpOutcomes.IsTransientFailure);
        if (breaker is not null)
        {
            builder.AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure);
        }

        return builder.Build();
    }

    /// <summary>Answers 503 to the first <paramref name="failures"/> requests, then 200, and records what each received.</summary>
    private static Task<LoopbackServer> RecordingServer(ConcurrentQueue<Received> received, int failures) =>
        LoopbackServer.StartAsync(async (context, n) =>
        {
            var body = await new StreamReader(context.Request.Body).ReadToEndAsync(context.RequestAborted);
            received.Enqueue(new Received(context.Request.Path, context.Request.Headers["X-Attempt"].ToString(), context.Request.Headers["X-Caller"].ToString(), context.Request.Headers["X-Default"].ToString(), body));
            await LoopbackServer.Status(context, n <= failures ? 503 : 200, $"answer {n}");
        });

    private static HttpRequestMessage Request(LoopbackServer server) =>
        new(HttpMethod.Post, new Uri(server.Address, "/orders"))
        {
            Content = new StringContent("payload"),
            Headers = { { "X-Caller", "caller" } },
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Each_repeated_attempt_sends_a_fresh_copy_that_an_earlier_attempts_changes_never_reach(bool synchronous)
    {
        var received = new ConcurrentQueue<Received>();
        await using var server = await RecordingServer(received, failures: 2);
        var changing = new ChangingHandler();
        using var client = new HttpClient(new ResilienceHandler(Retries(3)) { InnerHandler = changing });
        client.DefaultRequestHeaders.Add("X-Default", "default");
        using var request = Request(server);

        using var response = synchronous ? client.Send(request) : await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            [
                new Received("/moved", "1", "", "default", "payload"),
                new Received("/orders", "2", "caller", "default", "payload"),
                new Received("/orders", "3", "caller", "default", "payload"),
            ],
            received);

        // The first attempt sends the caller's request; each repeated one its own copy, as the caller built it.
        var seen = changing.Seen;
        Assert.Equal(3, seen.Count);
        Assert.Same(request, seen[0].Request);
        Assert.Equal(3, seen.Select(attempt => attempt.Request).Distinct().Count());
        Assert.All(seen, attempt => Assert.Equal((HttpMethod.Post, HttpVersion.Version11, HttpVersionPolicy.RequestVersionOrLower, false), (attempt.Method, attempt.Version, attempt.VersionPolicy, attempt.OptionWasSet)));
        Assert.All(seen, attempt => Assert.Same(request.Content, attempt.Request.Content));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_repeated_attempt_whose_content_cannot_be_read_again_fails_clearly_and_is_not_retried_or_counted(bool synchronous)
    {
        var received = new ConcurrentQueue<Received>();
        await using var server = await RecordingServer(received, failures: 1);
        var breaker = new CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 100 });
        var counting = new CountingHandler();
        using var client = new HttpClient(new ResilienceHandler(Retries(3, breaker)) { InnerHandler = counting });
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.Address, "/upload"))
        {
            Content = new StreamContent(new OneShotStream("one-shot body"u8.ToArray())),
        };

        var failure = synchronous
            ? Assert.ThrowsAny<InvalidOperationException>(() => client.Send(request))
            : await Assert.ThrowsAnyAsync<InvalidOperationException>(() => client.SendAsync(request));

        // The first attempt sent the whole body and got a 503; the second could not read the stream again, so it sent
        // nothing, and the retries stopped there: a one-shot body is the caller's mistake, not the server's failure.
        Assert.IsType<HttpRequestException>(failure.InnerException);
        Assert.Equal(new Received("/upload", "", "", "", "one-shot body"), Assert.Single(received));
        Assert.Equal(2, counting.Attempts);
        // The breaker counted the 503 and ignored the mistake (an exception its predicate does not handle).
        Assert.Equal((CircuitState.Closed, 1L, 1L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_request_sent_once_is_the_callers_own_message_sent_as_it_is(bool synchronous)
    {
        var received = new ConcurrentQueue<Received>();
        await using var server = await RecordingServer(received, failures: 0);
        using var client = new HttpClient(new ResilienceHandler(Retries(3)) { InnerHandler = new SocketsHttpHandler() });
        using var request = Request(server);

        using var response = synchronous ? client.Send(request) : await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Same(request, response.RequestMessage);
        Assert.Equal(new Received("/orders", "", "caller", "", "payload"), Assert.Single(received));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Each_request_repeats_its_own_first_state_whatever_requests_went_through_the_handler_before(bool synchronous)
    {
        // Every send completes at once, so one thread carries the requests one after another, as a busy caller's thread does.
        var inner = new FailingFirstAttemptHandler();
        using var client = new HttpClient(new ResilienceHandler(Retries(1)) { InnerHandler = inner });
        var extra = new HttpRequestOptionsKey<string>("extra");

        for (var id = 0; id < 6; id++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1/items/{id}") { Headers = { { "X-Id", $"{id}" } } };
            if (id % 2 == 0)
            {
                request.Headers.Add("X-Extra", $"{id}");
                request.Options.Set(extra, $"{id}");
            }

            inner.Seen.Clear();
            using var response = synchronous ? client.Send(request) : await client.SendAsync(request);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(2, inner.Seen.Count);
            Assert.Same(request, inner.Seen[0].Request);
            var repeated = inner.Seen[1];
            Assert.NotSame(request, repeated.Request);
            Assert.Equal(request.RequestUri, repeated.Request.RequestUri);
            Assert.Equal($"{id}", repeated.Id);
            Assert.Equal(id % 2 == 0 ? $"{id}" : null, repeated.Extra);

            // A request without options is sent without them: neither the caller's nor its copy has any created.
            Assert.Equal(id % 2 == 0, OptionsField(request) is not null);
            Assert.Equal(id % 2 == 0, OptionsField(repeated.Request) is not null);
            Assert.Equal(id % 2 == 0 ? $"{id}" : null, repeated.Request.Options.TryGetValue(extra, out var option) ? option : null);
        }
    }

    // The options a request holds, read without creating them (the public property creates them on first read).
    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_options")]
    private static extern ref HttpRequestOptions? OptionsField(HttpRequestMessage request);

    internal sealed record Received(string Path, string Attempt, string Caller, string Default, string Body);

    internal sealed record SeenAttempt(HttpRequestMessage Request, HttpMethod Method, Version Version, HttpVersionPolicy VersionPolicy, bool OptionWasSet);

    /// <summary>Answers 503 to the first attempt of each request and 200 to the next, and records what each attempt carried.</summary>
    private sealed class FailingFirstAttemptHandler : HttpMessageHandler
    {
        public List<(HttpRequestMessage Request, string? Id, string? Extra)> Seen { get; } = [];

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Seen.Add((request, Header(request, "X-Id"), Header(request, "X-Extra")));
            return new HttpResponseMessage(Seen.Count == 1 ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK);
        }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(Send(request, cancellationToken));

        private static string? Header(HttpRequestMessage request, string name) =>
            request.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;
    }

    /// <summary>
    /// Changes each request it sends, as inner handlers do: adds a header (a second Add of the same name adds a value),
    /// sets an option; and sends the first attempt elsewhere, as a redirect would, without the caller's header.
    /// </summary>
    private sealed class ChangingHandler() : DelegatingHandler(new SocketsHttpHandler())
    {
        public List<SeenAttempt> Seen { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Change(request);
            return base.SendAsync(request, cancellationToken);
        }

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Change(request);
            return base.Send(request, cancellationToken);
        }

        private void Change(HttpRequestMessage request)
        {
            var attempt = Seen.Count + 1;
            Seen.Add(new SeenAttempt(request, request.Method, request.Version, request.VersionPolicy, request.Options.TryGetValue(SeenBy, out _)));
            request.Headers.Add("X-Attempt", attempt.ToString(System.Globalization.CultureInfo.InvariantCulture));
            request.Options.Set(SeenBy, attempt);
            if (attempt == 1)
            {
                request.RequestUri = new Uri(request.RequestUri!, "/moved");
                request.Headers.Remove("X-Caller");
            }
        }
    }

    private sealed class CountingHandler() : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _attempts;

        public int Attempts => Volatile.Read(ref _attempts);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _attempts);
            return base.SendAsync(request, cancellationToken);
        }

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _attempts);
            return base.Send(request, cancellationToken);
        }
    }

    /// <summary>A stream that can be read once, front to back, and cannot seek: a request body that cannot be sent twice.</summary>
    private sealed class OneShotStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _inner.ReadAsync(buffer, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
