using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Resilience.Grpc.Tests.Transparency;

/// <summary>
/// A Kestrel gRPC server (HTTP/2 without TLS) on 127.0.0.1 whose four methods (one of each kind) behave as the call's
/// <c>behaviour</c> header says (see <see cref="ServerBehaviour"/>); each call marks its arrival under its <c>id</c>
/// header. Optionally with a server interceptor (a pipeline that changes nothing).
/// </summary>
internal sealed class TransparencyGrpcServer : IAsyncDisposable
{
    private static readonly Marshaller<string> Utf8 = Utf8Marshaller.Strings;

    public static readonly Method<string, string> Unary = new(MethodType.Unary, "transparency.Echo", "Unary", Utf8, Utf8);

    public static readonly Method<string, string> ServerStream = new(MethodType.ServerStreaming, "transparency.Echo", "ServerStream", Utf8, Utf8);

    public static readonly Method<string, string> ClientStream = new(MethodType.ClientStreaming, "transparency.Echo", "ClientStream", Utf8, Utf8);

    public static readonly Method<string, string> Duplex = new(MethodType.DuplexStreaming, "transparency.Echo", "Duplex", Utf8, Utf8);

    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private readonly WebApplication _app;

    private TransparencyGrpcServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    /// <summary>Gets the arrivals of calls at their handler, by call id.</summary>
    public static ConcurrentDictionary<string, TaskCompletionSource> Arrived { get; } = new();

    public static TaskCompletionSource ArrivalOf(string id) =>
        Arrived.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public static async Task<TransparencyGrpcServer> StartAsync(ResiliencePipeline? pipeline)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc(options =>
        {
            if (pipeline is not null)
            {
                options.Interceptors.Add<ResilienceServerInterceptor>(pipeline);
            }
        });
        builder.Services.AddSingleton<IServiceMethodProvider<Service>, Methods>();
        var app = builder.Build();
        app.MapGrpcService<Service>();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new TransparencyGrpcServer(app, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static ServerBehaviour BehaviourOf(ServerCallContext context) =>
        Enum.Parse<ServerBehaviour>(context.RequestHeaders.GetValue("behaviour")!);

    /// <summary>Runs the call's behaviour around its messages: <paramref name="messages"/> reads and writes them.</summary>
    private static async Task<string> HandleAsync(ServerCallContext context, Func<Task<string>> messages, Func<string, Task>? write)
    {
        var behaviour = BehaviourOf(context);
        ArrivalOf(context.RequestHeaders.GetValue("id")!).TrySetResult();
        switch (behaviour)
        {
            case ServerBehaviour.Unavailable:
                throw new RpcException(new Status(StatusCode.Unavailable, "not now"), new Metadata { { "x-fail", "u" } });
            case ServerBehaviour.Thrown:
                throw new InvalidOperationException("boom");
            case ServerBehaviour.Reset:
                context.GetHttpContext().Abort();
                return string.Empty;
            case ServerBehaviour.Slow:
                await Task.Delay(Bound, context.CancellationToken);
                return "late";
        }

        await context.WriteResponseHeadersAsync(new Metadata { { "x-head", "h" } });
        context.ResponseTrailers.Add("x-trail", "t");
        var answer = await messages();
        switch (behaviour)
        {
            case ServerBehaviour.SlowMidStream:
                if (write is not null)
                {
                    await write("first");
                }

                await Task.Delay(Bound, context.CancellationToken);
                return "late";
            case ServerBehaviour.Failed:
                if (write is not null)
                {
                    await write("before failing");
                }

                throw new RpcException(new Status(StatusCode.InvalidArgument, "bad request"), new Metadata { { "x-fail", "f" } });
            case ServerBehaviour.ContextStatus:
                if (write is not null)
                {
                    await write("before the status");
                }

                context.Status = new Status(StatusCode.NotFound, "not here");
                return answer;
            default:
                if (write is not null)
                {
                    for (var i = 0; i < 3; i++)
                    {
                        await write($"{answer} {i}");
                    }
                }

                return answer;
        }
    }

    public sealed class Service
    {
    }

    private sealed class Methods : IServiceMethodProvider<Service>
    {
        public void OnServiceMethodDiscovery(ServiceMethodProviderContext<Service> context)
        {
            context.AddUnaryMethod(Unary, [], (_, request, callContext) => HandleAsync(callContext, () => Task.FromResult($"echo {request}"), null));
            context.AddServerStreamingMethod(ServerStream, [], (_, request, writer, callContext) =>
                HandleAsync(callContext, () => Task.FromResult($"echo {request}"), message => writer.WriteAsync(message, callContext.CancellationToken)));
            context.AddClientStreamingMethod(ClientStream, [], (_, requests, callContext) => HandleAsync(callContext, () => JoinAsync(requests, callContext), null));
            context.AddDuplexStreamingMethod(Duplex, [], (_, requests, writer, callContext) => HandleAsync(
                callContext,
                async () =>
                {
                    // Each request is echoed as it comes; the behaviour's messages follow.
                    var received = new List<string>();
                    await foreach (var request in requests.ReadAllAsync(callContext.CancellationToken))
                    {
                        received.Add(request);
                        await writer.WriteAsync($"echo {request}", callContext.CancellationToken);
                    }

                    return string.Join(",", received);
                },
                message => writer.WriteAsync(message, callContext.CancellationToken)));
        }

        private static async Task<string> JoinAsync(IAsyncStreamReader<string> requests, ServerCallContext context)
        {
            var received = new List<string>();
            await foreach (var request in requests.ReadAllAsync(context.CancellationToken))
            {
                received.Add(request);
            }

            return string.Join(",", received);
        }
    }
}
