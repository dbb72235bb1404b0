using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Resilience.Http.Tests.Transparency;

/// <summary>
/// Two Kestrel servers for the transparency tests, one speaking HTTP/1.1 and one HTTP/2 without TLS, both answering by
/// the request's path (see <see cref="ServerBehaviour"/>). A request carries its own <c>x-id</c>: the server marks its
/// arrival, and a server that drops a body waits for the client to have the headers.
/// </summary>
public sealed class TransparencyServers : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private LoopbackServer? _http1;
    private LoopbackServer? _http2;

    /// <summary>Gets the arrivals at the server, by request id.</summary>
    public ConcurrentDictionary<string, TaskCompletionSource> Arrived { get; } = new();

    /// <summary>Gets the responses whose headers reached the client, by request id.</summary>
    public ConcurrentDictionary<string, TaskCompletionSource> HeadersReceived { get; } = new();

    public Uri Http1 => _http1!.Address;

    public Uri Http2 => _http2!.Address;

    public TaskCompletionSource Signal(ConcurrentDictionary<string, TaskCompletionSource> signals, string id) =>
        signals.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public async Task InitializeAsync()
    {
        _http1 = await LoopbackServer.StartAsync((context, _) => RespondAsync(context), HttpProtocols.Http1);
        _http2 = await LoopbackServer.StartAsync((context, _) => RespondAsync(context), HttpProtocols.Http2);
    }

    public async Task DisposeAsync()
    {
        await _http1!.DisposeAsync();
        await _http2!.DisposeAsync();
    }

    private async Task RespondAsync(HttpContext context)
    {
        var id = context.Request.Headers["x-id"].ToString();
        string body;
        try
        {
            body = await new StreamReader(context.Request.Body).ReadToEndAsync(context.RequestAborted);
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException or Microsoft.AspNetCore.Http.BadHttpRequestException)
        {
            return;
        }

        Signal(Arrived, id).TrySetResult();
        var response = context.Response;
        response.Headers["x-echo"] = $"{context.Request.Method} {context.Request.Protocol} {context.Request.Headers["x-probe"]} {context.Request.ContentLength?.ToString() ?? "-"} {context.Request.Headers.TransferEncoding}";
        switch (context.Request.Path.Value)
        {
            case "/ok":
                await response.WriteAsync($"{context.Request.Method}:{body}", context.RequestAborted);
                return;
            case "/trailers":
                response.DeclareTrailer("x-trailer");
                await response.WriteAsync($"{context.Request.Method}:{body}", context.RequestAborted);
                if (response.SupportsTrailers())
                {
                    response.AppendTrailer("x-trailer", "end");
                }

                return;
            case "/redirect":
                response.StatusCode = 302;
                response.Headers.Location = "/ok";
                return;
            case "/missing":
                response.StatusCode = 404;
                await response.WriteAsync("missing", context.RequestAborted);
                return;
            case "/error":
                response.StatusCode = 500;
                await response.WriteAsync("error", context.RequestAborted);
                return;
            case "/slow":
                await Task.Delay(TimeSpan.FromMilliseconds(50), context.RequestAborted);
                await response.WriteAsync("slow", context.RequestAborted);
                return;
            case "/reset":
                context.Abort();
                return;
            case "/cutoff":
                await PartialBodyAsync(response, context.RequestAborted);
                await Signal(HeadersReceived, id).Task.WaitAsync(Bound);
                context.Abort();
                return;
            case "/hang":
            case "/stall":
                if (context.Request.Path == "/stall")
                {
                    await PartialBodyAsync(response, context.RequestAborted);
                }

                try
                {
                    await Task.Delay(Bound, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    // The client gave up.
                }

                context.Abort();
                return;
            default:
                response.StatusCode = 400;
                return;
        }
    }

    private static async Task PartialBodyAsync(HttpResponse response, CancellationToken cancellationToken)
    {
        response.StatusCode = 200;
        response.ContentLength = 1000;
        await response.Body.WriteAsync("partial"u8.ToArray(), cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }
}
