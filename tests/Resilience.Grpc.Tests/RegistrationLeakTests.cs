using Grpc.Core;
using Grpc.Core.Interceptors;
using Resilience.Tests.Cancellation;

namespace Resilience.Grpc.Tests;

/// <summary>
/// A long-lived token (a host's shutdown token, never cancelled) passed to every call: the interceptors link it to each
/// call's own cancellation, and every link must be gone when the call ends, or the token's list grows for ever.
/// </summary>
public sealed class RegistrationLeakTests : IDisposable
{
    private const int Calls = 500;

    private readonly CancellationTokenSource _host = new();
    private readonly ResilienceClientInterceptor _client = new(
        new ResiliencePipelineBuilder()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false }, GrpcOutcomes.IsTransientFailure)
            .AddTimeout(TimeSpan.FromMinutes(1))
            .Build());

    public void Dispose() => _host.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Unary_calls_leave_nothing(bool deadline)
    {
        for (var i = 0; i < Calls; i++)
        {
            using var call = _client.AsyncUnaryCall("hi", Context(GrpcTestServer.Unary, deadline), static (request, _) => Answered(request));
            Assert.Equal("hi", await call.ResponseAsync);
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Blocking_unary_calls_leave_nothing(bool deadline)
    {
        for (var i = 0; i < Calls; i++)
        {
            Assert.Equal("hi", _client.BlockingUnaryCall("hi", Context(GrpcTestServer.Unary, deadline), static (request, _) => request));
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Server_streams_read_to_their_end_leave_nothing(bool deadline)
    {
        for (var i = 0; i < Calls; i++)
        {
            using var call = _client.AsyncServerStreamingCall(
                "hi",
                Context(GrpcTestServer.Streaming, deadline),
                static (_, _) => new AsyncServerStreamingCall<string>(new EmptyReader(), Task.FromResult(new Metadata()), static () => Status.DefaultSuccess, static () => [], static () => { }));
            Assert.False(await call.ResponseStream.MoveNext(_host.Token));
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Duplex_streams_read_to_their_end_leave_nothing(bool deadline)
    {
        for (var i = 0; i < Calls; i++)
        {
            using var call = _client.AsyncDuplexStreamingCall(
                Context(GrpcTestServer.Duplex, deadline),
                static _ => new AsyncDuplexStreamingCall<string, string>(new NullWriter(), new EmptyReader(), Task.FromResult(new Metadata()), static () => Status.DefaultSuccess, static () => [], static () => { }));
            await call.RequestStream.CompleteAsync();
            Assert.False(await call.ResponseStream.MoveNext(_host.Token));
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Client_streams_answered_leave_nothing(bool deadline)
    {
        for (var i = 0; i < Calls; i++)
        {
            using var call = _client.AsyncClientStreamingCall(
                Context(GrpcTestServer.ClientStreaming, deadline),
                static _ => new AsyncClientStreamingCall<string, string>(new NullWriter(), Task.FromResult("done"), Task.FromResult(new Metadata()), static () => Status.DefaultSuccess, static () => [], static () => { }));
            await call.RequestStream.CompleteAsync();
            Assert.Equal("done", await call.ResponseAsync);
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Fact]
    public async Task Server_calls_leave_nothing_on_the_clients_token()
    {
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 10 });
        var server = new ResilienceServerInterceptor(new ResiliencePipelineBuilder().AddRateLimiter(limiter).AddTimeout(TimeSpan.FromMinutes(1)).Build());
        for (var i = 0; i < Calls; i++)
        {
            var context = new FakeServerCallContext(GrpcTestServer.Unary.FullName, _host.Token);
            Assert.Equal("hi", await server.UnaryServerHandler("hi", context, static async (request, _) => { await Task.Yield(); return request; }));
            await server.ServerStreamingServerHandler("hi", new NullWriter(), context, static (_, _, _) => Task.CompletedTask);
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    private ClientInterceptorContext<string, string> Context(Method<string, string> method, bool deadline) =>
        new(method, null, new CallOptions(deadline: deadline ? DateTime.UtcNow.AddHours(1) : null, cancellationToken: _host.Token));

    private static AsyncUnaryCall<string> Answered(string response) =>
        new(Task.FromResult(response), Task.FromResult(new Metadata()), static () => Status.DefaultSuccess, static () => [], static () => { });

    private sealed class EmptyReader : IAsyncStreamReader<string>
    {
        public string Current => throw new InvalidOperationException();

        public Task<bool> MoveNext(CancellationToken cancellationToken) => Task.FromResult(false);
    }

    private sealed class NullWriter : IClientStreamWriter<string>, IServerStreamWriter<string>
    {
        public WriteOptions? WriteOptions { get; set; }

        public Task CompleteAsync() => Task.CompletedTask;

        public Task WriteAsync(string message) => Task.CompletedTask;
    }
}
