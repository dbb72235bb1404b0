using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Resilience.Http.Tests.Faults;

/// <summary>
/// A <see cref="LoopbackServer"/> that plays, for each request, the fault its plan (in its headers) gives the attempt
/// number the client stamped on it, and logs every arrival per call, before it plays the fault.
/// </summary>
internal sealed class SoakServer : IAsyncDisposable
{
    private readonly ConcurrentDictionary<int, ConcurrentQueue<string>> _arrivals = new();
    private readonly Action<int> _cancelCaller;
    private LoopbackServer _server = null!;

    private SoakServer(Action<int> cancelCaller) => _cancelCaller = cancelCaller;

    public Uri Address => _server.Address;

    /// <summary>Starts a server.</summary>
    /// <param name="cancelCaller">Cancels the token of call n's caller (a <see cref="HttpFault.Hang"/> attempt arrived).</param>
    /// <param name="protocols">The protocols it speaks.</param>
    public static async Task<SoakServer> StartAsync(Action<int> cancelCaller, HttpProtocols protocols)
    {
        var server = new SoakServer(cancelCaller);
        server._server = await LoopbackServer.StartAsync((context, _) => server.RespondAsync(context), protocols);
        return server;
    }

    /// <summary>The attempt numbers of call <paramref name="id"/> as they arrived (each the header's whole value).</summary>
    public IReadOnlyList<string> ArrivalsOf(int id) => _arrivals.TryGetValue(id, out var arrivals) ? arrivals.ToArray() : [];

    /// <summary>Every arrival.</summary>
    public int Total => _arrivals.Values.Sum(static arrivals => arrivals.Count);

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private Task RespondAsync(HttpContext context)
    {
        var id = int.Parse(context.Request.Headers[HttpCallPlan.CallHeader].ToString(), CultureInfo.InvariantCulture);
        var number = context.Request.Headers[AttemptRecorder.AttemptHeader].ToString();
        _arrivals.GetOrAdd(id, static _ => new()).Enqueue(number);
        var plan = new HttpCallPlan(id, HttpCallPlan.ParseFaults(context.Request.Headers[HttpCallPlan.FaultsHeader].ToString()));

        // A number that is not one (two values: a copy that kept the last attempt's) is answered, and caught by the log.
        var fault = int.TryParse(number, CultureInfo.InvariantCulture, out var n) ? plan.FaultOf(n) : HttpFault.Ok;
        switch (fault)
        {
            case HttpFault.Ok:
                return LoopbackServer.Status(context, 200, "ok");
            case HttpFault.NotFound:
                return LoopbackServer.Status(context, 404);
            case HttpFault.Unavailable:
                context.Response.Headers.RetryAfter = "0";
                return LoopbackServer.Status(context, 503);
            case HttpFault.TooManyRequests:
                context.Response.Headers.RetryAfter = "0";
                return LoopbackServer.Status(context, 429);
            case HttpFault.TooManyRequestsForAnHour:
                context.Response.Headers.RetryAfter = "3600";
                return LoopbackServer.Status(context, 429);
            case HttpFault.ServerError:
                return LoopbackServer.Status(context, 500);
            case HttpFault.Reset:
                return LoopbackServer.Reset(context);
            case HttpFault.Slow:
                return LoopbackServer.Slow(context);
            default:
                _cancelCaller(id);
                return LoopbackServer.Slow(context);
        }
    }
}
