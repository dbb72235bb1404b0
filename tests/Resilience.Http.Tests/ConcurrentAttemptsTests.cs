using System.Collections.Concurrent;
using System.Net;

namespace Resilience.Http.Tests;

/// <summary>
/// The handler keeps one spare set of attempts per thread for the next request. Real threads send many requests at once,
/// synchronously and asynchronously, each retried: every attempt must send its own request's headers and options, and
/// every caller must get its own response.
/// </summary>
public sealed class ConcurrentAttemptsTests
{
    private const int Threads = 4;
    private const int RequestsPerThread = 1500;

    private static readonly HttpRequestOptionsKey<int> Id = new("request-id");

    [Fact]
    public async Task Concurrent_requests_each_send_only_their_own_request_on_every_attempt()
    {
        var inner = new EchoingHandler();
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 2, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false }, HttpOutcomes.IsTransientFailure)
            .AddTimeout(TimeSpan.FromMinutes(1))
            .Build();
        using var invoker = new HttpMessageInvoker(new ResilienceHandler(pipeline) { InnerHandler = inner });
        var problems = new ConcurrentQueue<string>();

        async Task RunThread(int thread)
        {
            var random = new Random(thread);
            for (var i = 0; i < RequestsPerThread; i++)
            {
                var id = (thread * RequestsPerThread) + i;
                var headers = random.Next(4);
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://example.test/{id}"));
                request.Headers.TryAddWithoutValidation("X-Id", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                for (var h = 0; h < headers; h++)
                {
                    request.Headers.TryAddWithoutValidation($"X-Extra-{h}", $"{id}-{h}");
                }

                request.Options.Set(Id, id);
                request.Options.Set(new HttpRequestOptionsKey<int>("extras"), headers);
                using var caller = new CancellationTokenSource();
                var token = random.Next(2) == 0 ? caller.Token : CancellationToken.None;
                using var response = random.Next(3) == 0
                    ? invoker.Send(request, token)
                    : await invoker.SendAsync(request, token);
                if (response.StatusCode != HttpStatusCode.OK || response.ReasonPhrase != id.ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    problems.Enqueue($"request {id} got {(int)response.StatusCode} {response.ReasonPhrase}");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() => RunThread(t)))).WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Empty(problems);
        Assert.Empty(inner.Problems);
        Assert.Equal(Threads * RequestsPerThread * 3, inner.Attempts);
    }

    /// <summary>
    /// Fails the first two attempts of every request with 503 (one of them asynchronously), checks that each attempt
    /// carries exactly the headers and options its request was built with, and answers 200 with the request's id.
    /// </summary>
    private sealed class EchoingHandler : HttpMessageHandler
    {
        private readonly ConcurrentDictionary<int, int> _attemptsOf = new();
        private int _attempts;

        public ConcurrentQueue<string> Problems { get; } = new();

        public int Attempts => Volatile.Read(ref _attempts);

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) => Answer(request);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = Answer(request);
            if (response.StatusCode != HttpStatusCode.OK && response.ReasonPhrase == "1")
            {
                await Task.Yield();
            }

            return response;
        }

        private HttpResponseMessage Answer(HttpRequestMessage request)
        {
            Interlocked.Increment(ref _attempts);
            var id = int.Parse(request.RequestUri!.Segments[^1], System.Globalization.CultureInfo.InvariantCulture);
            var text = id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!request.Options.TryGetValue(Id, out var optionId) || optionId != id
                || !request.Options.TryGetValue(new HttpRequestOptionsKey<int>("extras"), out var extras))
            {
                Problems.Enqueue($"request {id}: options of another request");
                extras = -1;
            }

            var expected = new List<string> { $"X-Id:{text}" };
            for (var h = 0; h < extras; h++)
            {
                expected.Add($"X-Extra-{h}:{id}-{h}");
            }

            var sent = request.Headers.NonValidated.Select(header => $"{header.Key}:{string.Join(",", header.Value)}").ToList();
            if (!sent.SequenceEqual(expected))
            {
                Problems.Enqueue($"request {id}: sent [{string.Join(" ", sent)}]");
            }

            var attempt = _attemptsOf.AddOrUpdate(id, 1, static (_, n) => n + 1);
            if (attempt == 3)
            {
                _attemptsOf.TryRemove(id, out _);
            }

            return attempt < 3
                ? new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) { ReasonPhrase = attempt.ToString(System.Globalization.CultureInfo.InvariantCulture), RequestMessage = request }
                : new HttpResponseMessage(HttpStatusCode.OK) { ReasonPhrase = text, RequestMessage = request };
        }
    }
}
