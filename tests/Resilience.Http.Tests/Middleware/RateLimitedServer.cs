using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Resilience.Http.Tests.Middleware;

/// <summary>
/// A real Kestrel server on 127.0.0.1 and an ephemeral port behind ASP.NET Core's rate-limiting middleware
/// (<c>AddRateLimiter</c>, <c>UseRateLimiter</c>), every path answered by one handler.
/// </summary>
internal sealed class RateLimitedServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RateLimitedServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>Gets the server's base address.</summary>
    public Uri Address { get; }

    /// <summary>Starts a server.</summary>
    /// <param name="configure">Configures the middleware: its global limiter, policies, rejection.</param>
    /// <param name="handle">Answers a request the middleware admitted.</param>
    /// <param name="policy">A named policy the endpoint requires (<c>RequireRateLimiting</c>); none if <see langword="null"/>.</param>
    public static async Task<RateLimitedServer> StartAsync(Action<RateLimiterOptions> configure, RequestDelegate handle, string? policy = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        builder.Services.AddRateLimiter(configure);
        var app = builder.Build();

        // Routing first, so the middleware sees the endpoint and its policy.
        app.UseRouting();
        app.UseRateLimiter();
        var endpoint = app.Map("/{**path}", handle);
        if (policy is not null)
        {
            endpoint.RequireRateLimiting(policy);
        }

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new RateLimitedServer(app, new Uri(address));
    }

    /// <summary>Stops the server (the host and its services are disposed).</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
