using System.Net;
using System.Text;

namespace Resilience.Http.Tests.Transparency;

/// <summary>
/// A pipeline that changes nothing (none at all, or strategies that let every call pass: a retry that handles nothing, a
/// breaker that never opens, a limiter with permits to spare, a timeout of an hour) makes the handler invisible: each
/// request of a seeded matrix (method, content, version, headers, options, completion option, synchronous or not) to a
/// server behaving one way is sent with and without the handler, and everything the caller can observe is compared.
/// </summary>
public sealed class HandlerTransparencyTests(TransparencyServers servers) : IClassFixture<TransparencyServers>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static readonly HttpRequestOptionsKey<string> Option = new("probe");

    public enum Behaviour
    {
        Ok,
        Trailers,
        Redirect,
        NotFound,
        ServerError,
        Slow,
        Reset,
        BodyCutOff,
        CancelledBeforeSend,
        CancelledWaitingForHeaders,
        CancelledReadingBody,
        ClientTimeout,
    }

    public enum ContentKind
    {
        None,
        String,
        Bytes,
        Stream,
        Chunked,
    }

    public static TheoryData<Behaviour> Behaviours() => new(Enum.GetValues<Behaviour>());

    [Theory]
    [MemberData(nameof(Behaviours))]
    public async Task A_call_through_a_pipeline_that_changes_nothing_is_observably_the_call_without_the_handler(Behaviour behaviour)
    {
        var random = new Random(1000 + (int)behaviour);
        var differences = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var scenario = new Scenario(
                behaviour,
                new[] { HttpMethod.Get, HttpMethod.Post, HttpMethod.Put }[random.Next(3)],
                Enum.GetValues<ContentKind>()[random.Next(5)],
                random.Next(2) == 0 ? HttpVersion.Version11 : HttpVersion.Version20,
                random.Next(2) == 0 ? HttpCompletionOption.ResponseContentRead : HttpCompletionOption.ResponseHeadersRead,
                Synchronous: i == 3);
            if (scenario is { Behaviour: Behaviour.CancelledBeforeSend, Synchronous: true })
            {
                // Through a pipeline a request whose caller already cancelled reaches no inner handler (docs/http.md): the
                // transport's refusal of the synchronous form over HTTP/2, which it reports before looking at the token,
                // is not seen. Over HTTP/1.1 both answer with the cancellation, which must look the same.
                scenario = scenario with { Version = HttpVersion.Version11 };
            }

            var baseline = await ObserveAsync(scenario, pipeline: null);
            foreach (var (name, pipeline) in Pipelines())
            {
                var observed = await ObserveAsync(scenario, pipeline);
                if (!baseline.SequenceEqual(observed))
                {
                    differences.Add($"{scenario} through {name}:\n  without: {string.Join(" | ", baseline)}\n  with:    {string.Join(" | ", observed)}");
                }
            }
        }

        Assert.True(differences.Count == 0, string.Join("\n", differences));
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 1)]
    [InlineData(false, 2)]
    [InlineData(true, 2)]
    public async Task A_cancellation_through_a_timeout_reaches_an_invoker_as_the_inner_handler_raised_it_but_with_the_callers_token(bool synchronous, int timeouts)
    {
        // No HttpClient above to rebuild the exception: what the invoker gets is what the handler throws. Nested
        // timeouts (a total one around a per-attempt one) wrap the attempt's cancellation once each.
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>().AddTimeout(TimeSpan.FromHours(1));
        var pipeline = (timeouts == 2 ? builder.AddTimeout(TimeSpan.FromMinutes(30)) : builder).Build();
        var transport = new IOException("transport cancelled");
        using var caller = new CancellationTokenSource();
        using var invoker = new HttpMessageInvoker(new ResilienceHandler(pipeline) { InnerHandler = new CancelledByToken(caller, transport) });
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://localhost/");

        var failure = synchronous
            ? Record.Exception(() => invoker.Send(request, caller.Token))
            : await Record.ExceptionAsync(() => invoker.SendAsync(request, caller.Token));

        var cancellation = Assert.IsType<TaskCanceledException>(failure);
        Assert.Equal((caller.Token, "cancelled in the transport"), (cancellation.CancellationToken, cancellation.Message));
        Assert.Same(transport, cancellation.InnerException);
    }

    private static IEnumerable<(string Name, ResiliencePipeline<HttpResponseMessage> Pipeline)> Pipelines()
    {
        yield return ("an empty pipeline", new ResiliencePipelineBuilder<HttpResponseMessage>().Build());
        yield return ("pass-through strategies", PassThrough().Build());
        yield return ("pass-through strategies and a timeout", PassThrough().AddTimeout(TimeSpan.FromHours(1)).Build());

        static ResiliencePipelineBuilder<HttpResponseMessage> PassThrough() => new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false }, _ => false)
            .AddCircuitBreaker(new CircuitBreakerOptions { FailureRatio = 1, MinimumThroughput = 1_000_000, BreakDuration = TimeSpan.FromSeconds(1) }, HttpOutcomes.IsTransientFailure)
            .AddConcurrencyLimiter(new InFlightLimiterOptions { PermitLimit = 10_000 });
    }

    private async Task<List<string>> ObserveAsync(Scenario scenario, ResiliencePipeline<HttpResponseMessage>? pipeline)
    {
        var id = Guid.NewGuid().ToString("N");
        HttpMessageHandler handler = new HeadersSignal(servers.HeadersReceived);
        if (pipeline is not null)
        {
            handler = new ResilienceHandler(pipeline) { InnerHandler = handler };
        }

        using var client = new HttpClient(handler)
        {
            BaseAddress = scenario.Version == HttpVersion.Version20 ? servers.Http2 : servers.Http1,
        };
        if (scenario.Behaviour == Behaviour.ClientTimeout)
        {
            client.Timeout = TimeSpan.FromMilliseconds(100);
        }

        using var caller = new CancellationTokenSource();
        using var request = new HttpRequestMessage(scenario.Method, PathOf(scenario.Behaviour))
        {
            Version = scenario.Version,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = ContentOf(scenario.Content),
        };
        request.Headers.Add("x-id", id);
        request.Headers.Add("x-probe", "probe");
        request.Headers.Accept.ParseAdd("text/plain");
        request.Options.Set(Option, "set");
        if (scenario.Content == ContentKind.Chunked && scenario.Version == HttpVersion.Version11)
        {
            request.Headers.TransferEncodingChunked = true;
        }

        var observed = new List<string>();
        if (scenario.Behaviour == Behaviour.CancelledBeforeSend)
        {
            await caller.CancelAsync();
        }

        var sending = scenario.Synchronous
            ? Task.Run(() => client.Send(request, scenario.Completion, caller.Token))
            : client.SendAsync(request, scenario.Completion, caller.Token);
        if (scenario.Behaviour is Behaviour.CancelledWaitingForHeaders or Behaviour.CancelledReadingBody)
        {
            // Cancelled once the server holds the request, or once the client has the headers of the body that stalls.
            var signals = scenario.Behaviour == Behaviour.CancelledWaitingForHeaders ? servers.Arrived : servers.HeadersReceived;
            await Task.WhenAny(servers.Signal(signals, id).Task, sending).WaitAsync(Bound);
            await caller.CancelAsync();
        }

        HttpResponseMessage response;
        try
        {
            response = await sending.WaitAsync(Bound);
        }
        catch (Exception exception) when (exception is not TimeoutException)
        {
            // A body cancelled while HttpClient buffers it: where the cancellation is seen (before the copy starts, or
            // during it) is a race the handler takes no part in: it shows in the message and the inner exceptions, not compared.
            var racy = scenario is { Behaviour: Behaviour.CancelledReadingBody, Completion: HttpCompletionOption.ResponseContentRead };
            observed.Add("send: " + Describe(exception, caller.Token, exact: !racy));
            observed.Add(ContentState(request));
            return observed;
        }

        using (response)
        {
            observed.Add($"{(int)response.StatusCode} {response.ReasonPhrase} HTTP/{response.Version}");
            observed.Add("headers: " + Headers(response.Headers.Where(header => header.Key != "Date")));
            observed.Add("content headers: " + Headers(response.Content.Headers));
            observed.Add($"request: same={ReferenceEquals(response.RequestMessage, request)} uri={response.RequestMessage?.RequestUri} option={(response.RequestMessage?.Options.TryGetValue(Option, out var value) == true ? value : "-")}");
            try
            {
                var body = await ReadBodyAsync(response, caller.Token).WaitAsync(Bound);
                observed.Add("body: " + body);
            }
            catch (Exception exception) when (exception is not TimeoutException)
            {
                observed.Add("body: " + Describe(exception, caller.Token, exact: true));
            }

            observed.Add("trailers: " + Headers(response.TrailingHeaders));
        }

        observed.Add(ContentState(request));
        return observed;
    }

    private static string PathOf(Behaviour behaviour) => behaviour switch
    {
        Behaviour.Ok or Behaviour.CancelledBeforeSend => "/ok",
        Behaviour.Trailers => "/trailers",
        Behaviour.Redirect => "/redirect",
        Behaviour.NotFound => "/missing",
        Behaviour.ServerError => "/error",
        Behaviour.Slow => "/slow",
        Behaviour.Reset => "/reset",
        Behaviour.BodyCutOff => "/cutoff",
        Behaviour.CancelledReadingBody => "/stall",
        _ => "/hang",
    };

    private static HttpContent? ContentOf(ContentKind kind) => kind switch
    {
        ContentKind.String => new StringContent("string body"),
        ContentKind.Bytes => new ByteArrayContent("byte body"u8.ToArray()),
        ContentKind.Stream => new StreamContent(new OneShotStream("stream body"u8.ToArray())),
        ContentKind.Chunked => new StreamContent(new OneShotStream("chunked body"u8.ToArray())),
        _ => null,
    };

    private static async Task<string> ReadBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var bytes = new MemoryStream();
        var buffer = new byte[64];
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            bytes.Write(buffer, 0, read);
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static string Headers(IEnumerable<KeyValuePair<string, IEnumerable<string>>> headers) =>
        string.Join(", ", headers.OrderBy(header => header.Key, StringComparer.OrdinalIgnoreCase).Select(header => $"{header.Key}={string.Join(";", header.Value)}"));

    /// <summary>
    /// The exception's type and message, whether a cancellation carries the caller's token, and the types of the
    /// cancellations it wraps, down to the transport's own exception (whose type and message depend on how the race
    /// between the client and the server went, with or without the handler, so only its presence is compared).
    /// </summary>
    private static string Describe(Exception exception, CancellationToken callerToken, bool exact)
    {
        var description = new StringBuilder($"{exception.GetType().Name}({(exact ? exception.Message : "…")})");
        if (exception is OperationCanceledException cancellation)
        {
            description.Append($" [token: {(cancellation.CancellationToken == callerToken ? "caller's" : cancellation.CancellationToken.CanBeCanceled ? "another" : "none")}]");
        }

        if (exception is HttpRequestException { HttpRequestError: var error })
        {
            description.Append($" [{error}]");
        }

        if (!exact)
        {
            return description.ToString();
        }

        var current = exception.InnerException;
        for (; current is OperationCanceledException or TimeoutException; current = current.InnerException)
        {
            description.Append($" > {current.GetType().Name}");
        }

        if (current is not null)
        {
            description.Append(exception is OperationCanceledException ? " > transport" : $" > {current.GetType().Name}");
        }

        return description.ToString();
    }

    private static string ContentState(HttpRequestMessage request)
    {
        if (request.Content is not { } content)
        {
            return "content: none";
        }

        try
        {
            content.ReadAsStream();
            return "content: not disposed";
        }
        catch (ObjectDisposedException)
        {
            return "content: disposed";
        }
    }

    public sealed record Scenario(Behaviour Behaviour, HttpMethod Method, ContentKind Content, Version Version, HttpCompletionOption Completion, bool Synchronous);
}
