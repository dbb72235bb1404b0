using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Resilience.Http.Tests;

/// <summary>
/// A real Kestrel server on 127.0.0.1 and an ephemeral port. Each request is answered by a function of the request's
/// number (1 for the first), so a test scripts faults: a status, a delay, a reset connection.
/// </summary>
internal sealed class LoopbackServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly SemaphoreSlim _arrivals = new(0);
    private int _requests;

    private LoopbackServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>Gets the server's base address.</summary>
    public Uri Address { get; }

    /// <summary>Gets how many requests reached the server.</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Waits until one more request has reached the server (each arrival is counted once).</summary>
    public Task WaitForRequestAsync() => _arrivals.WaitAsync();

    /// <summary>Starts a server.</summary>
    /// <param name="respond">Answers request number n.</param>
    /// <param name="protocols">The protocols it speaks; <see cref="HttpProtocols.Http2"/> alone is HTTP/2 without TLS (h2c).</param>
    public static async Task<LoopbackServer> StartAsync(Func<HttpContext, int, Task> respond, HttpProtocols protocols = HttpProtocols.Http1AndHttp2)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = protocols));
        var app = builder.Build();
        LoopbackServer? server = null;
        app.Run(context =>
        {
            var number = Interlocked.Increment(ref server!._requests);
            server._arrivals.Release();
            return respond(context, number);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server = new LoopbackServer(app, new Uri(address));
        return server;
    }

    /// <summary>Answers with a status and a short body.</summary>
    public static Task Status(HttpContext context, int status, string body = "")
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsync(body, context.RequestAborted);
    }

    /// <summary>Drops the connection without a response: the client sees a reset.</summary>
    public static Task Reset(HttpContext context)
    {
        context.Abort();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Sends a 200's headers and the start of its body, waits until the client has the headers (a connection dropped
    /// sooner loses what was not yet sent), then drops the connection: the client sees the body cut off.
    /// </summary>
    public static async Task CutOff(HttpContext context, Task headersReceived)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentLength = 1000;
        await context.Response.Body.WriteAsync("partial"u8.ToArray(), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
        await headersReceived.WaitAsync(TimeSpan.FromSeconds(30));
        context.Abort();
    }

    /// <summary>
    /// Sends a 200's headers and the start of its body, then stalls until the client gives up (or half a minute passes):
    /// a server that hangs mid-body.
    /// </summary>
    public static async Task Stall(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentLength = 1000;
        await context.Response.Body.WriteAsync("partial"u8.ToArray(), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            // The client gave up: nothing more to send.
        }

        context.Abort();
    }

    /// <summary>Answers after a long delay, or not at all if the client gives up first.</summary>
    public static async Task Slow(HttpContext context)
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
            await Status(context, 200, "late");
        }
        catch (OperationCanceledException)
        {
            // The client gave up: nothing to answer.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _arrivals.Dispose();
    }
}
