using System.Net;
using System.Text;
using Grpc.AspNetCore.Server;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Resilience.Grpc.Tests;

/// <summary>
/// A real Kestrel gRPC server (HTTP/2 without TLS) on 127.0.0.1 and an ephemeral port, serving a unary method and one
/// method of each streaming kind, of strings. Each unary call is answered by a function of the call's number (1 for the
/// first), so a test scripts faults: a status, a delay, a reset stream. Each streaming call (numbered apart from unary
/// ones) runs until a scripted end (see <see cref="StartAsync"/>). No generated code: the methods are declared by hand.
/// </summary>
internal sealed class GrpcTestServer : IAsyncDisposable
{
    private static readonly Marshaller<string> Utf8 = Utf8Marshaller.Strings;

    public static readonly Method<string, string> Unary = new(MethodType.Unary, "test.Echo", "Call", Utf8, Utf8);

    public static readonly Method<string, string> Streaming = new(MethodType.ServerStreaming, "test.Echo", "Stream", Utf8, Utf8);

    public static readonly Method<string, string> ClientStreaming = new(MethodType.ClientStreaming, "test.Echo", "Collect", Utf8, Utf8);

    public static readonly Method<string, string> Duplex = new(MethodType.DuplexStreaming, "test.Echo", "Chat", Utf8, Utf8);

    /// <summary>A duplex method whose handler is the test's own (see <see cref="StartAsync"/>'s <c>handler</c>).</summary>
    public static readonly Method<string, string> Scripted = new(MethodType.DuplexStreaming, "test.Echo", "Scripted", Utf8, Utf8);

    /// <summary>A client-streaming method whose handler is the test's own, given no response stream (it answers empty).</summary>
    public static readonly Method<string, string> ScriptedUpload = new(MethodType.ClientStreaming, "test.Echo", "ScriptedUpload", Utf8, Utf8);

    private readonly WebApplication _app;
    private readonly Responder _responder;

    private GrpcTestServer(WebApplication app, Responder responder, Uri address)
    {
        _app = app;
        _responder = responder;
        Address = address;
    }

    public Uri Address { get; }

    /// <summary>Gets how many unary calls reached the service (past any server interceptor).</summary>
    public int Calls => _responder.Calls;

    /// <summary>Waits until one more unary call has reached the service (each arrival is counted once).</summary>
    public Task WaitForCallAsync() => _responder.Arrivals.WaitAsync();

    /// <summary>Gets how many streaming calls (of any kind) reached the service (past any server interceptor).</summary>
    public int StreamCalls => _responder.StreamCalls;

    /// <summary>Starts a server.</summary>
    /// <param name="respond">Answers unary call number n.</param>
    /// <param name="configure">Configures the gRPC service (a server interceptor).</param>
    /// <param name="streamEnd">
    /// Ends streaming call number n: awaited after a server stream's first message (its last two follow), after a client
    /// stream's last request (its response follows: the requests joined), and after a duplex stream's last request (each
    /// was echoed as it came); a status it throws ends the call. None: every stream ends at once, with OK.
    /// </param>
    /// <param name="handler">
    /// Handles the <see cref="Scripted"/> duplex method and the <see cref="ScriptedUpload"/> client-streaming one (with no
    /// response stream): reads and writes as the test scripts it.
    /// </param>
    /// <param name="services">Adds services to the server's container (an interceptor the gRPC options add by type).</param>
    public static async Task<GrpcTestServer> StartAsync(
        Func<string, ServerCallContext, int, Task<string>> respond,
        Action<GrpcServiceOptions>? configure = null,
        Func<ServerCallContext, int, Task>? streamEnd = null,
        Func<IAsyncStreamReader<string>, IServerStreamWriter<string>, ServerCallContext, Task>? handler = null,
        Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc(options => configure?.Invoke(options));
        services?.Invoke(builder.Services);
        var responder = new Responder(respond, streamEnd ?? ((_, _) => Task.CompletedTask), handler ?? ((_, _, _) => Task.CompletedTask));
        builder.Services.AddSingleton(responder);
        builder.Services.AddSingleton<IServiceMethodProvider<EchoService>, EchoMethods>();
        var app = builder.Build();
        app.MapGrpcService<EchoService>();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new GrpcTestServer(app, responder, new Uri(address));
    }

    public static RpcException Status(StatusCode code) => new(new Status(code, $"scripted {code}"));

    /// <summary>Resets the call's HTTP/2 stream without a status: the client sees a broken call.</summary>
    public static Task<string> Reset(ServerCallContext context)
    {
        context.GetHttpContext().Abort();
        return Task.FromResult(string.Empty);
    }

    /// <summary>Answers after a long delay, or never if the client gives up first.</summary>
    public static async Task<string> Slow(ServerCallContext context)
    {
        await Task.Delay(TimeSpan.FromSeconds(30), context.CancellationToken);
        return "late";
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _responder.Arrivals.Dispose();
    }

    public sealed class EchoService
    {
    }

    internal sealed class Responder(
        Func<string, ServerCallContext, int, Task<string>> respond,
        Func<ServerCallContext, int, Task> streamEnd,
        Func<IAsyncStreamReader<string>, IServerStreamWriter<string>, ServerCallContext, Task> handler)
    {
        public Func<IAsyncStreamReader<string>, IServerStreamWriter<string>, ServerCallContext, Task> Handler => handler;

        private int _calls;
        private int _streamCalls;

        public int Calls => Volatile.Read(ref _calls);

        public int StreamCalls => Volatile.Read(ref _streamCalls);

        public Task EndStreamAsync(ServerCallContext context)
        {
            var end = streamEnd(context, Interlocked.Increment(ref _streamCalls));

            // A handler that fails before it awaits its end (the client went away mid-stream) leaves the end unawaited:
            // its failure is observed here, so a test that counts unobserved exceptions does not count the server's.
            end.ContinueWith(
                static task => _ = task.Exception,
                CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            return end;
        }

        public SemaphoreSlim Arrivals { get; } = new(0);

        public Task<string> RespondAsync(string request, ServerCallContext context)
        {
            var number = Interlocked.Increment(ref _calls);
            Arrivals.Release();
            return respond(request, context, number);
        }
    }

    private sealed class EchoMethods(Responder responder) : IServiceMethodProvider<EchoService>
    {
        public void OnServiceMethodDiscovery(ServiceMethodProviderContext<EchoService> context)
        {
            context.AddUnaryMethod(Unary, [], (_, request, callContext) => responder.RespondAsync(request, callContext));
            context.AddServerStreamingMethod(Streaming, [], async (_, request, writer, callContext) =>
            {
                // Counted before the first message: a client that has read it knows the call has arrived.
                var end = responder.EndStreamAsync(callContext);
                await writer.WriteAsync($"{request} 0");
                await end;
                for (var i = 1; i < 3; i++)
                {
                    await writer.WriteAsync($"{request} {i}");
                }
            });
            context.AddClientStreamingMethod(ClientStreaming, [], async (_, requests, callContext) =>
            {
                var end = responder.EndStreamAsync(callContext);
                var received = new List<string>();
                await foreach (var request in requests.ReadAllAsync(callContext.CancellationToken))
                {
                    received.Add(request);
                }

                await end;
                return string.Join(",", received);
            });
            context.AddDuplexStreamingMethod(Scripted, [], (_, requests, writer, callContext) => responder.Handler(requests, writer, callContext));
            context.AddClientStreamingMethod(ScriptedUpload, [], async (_, requests, callContext) =>
            {
                await responder.Handler(requests, null!, callContext);
                return string.Empty;
            });
            context.AddDuplexStreamingMethod(Duplex, [], async (_, requests, writer, callContext) =>
            {
                var end = responder.EndStreamAsync(callContext);
                await foreach (var request in requests.ReadAllAsync(callContext.CancellationToken))
                {
                    await writer.WriteAsync($"echo {request}");
                }

                await end;
            });
        }
    }
}
