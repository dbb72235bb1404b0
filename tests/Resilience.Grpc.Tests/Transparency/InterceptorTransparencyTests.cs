using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace Resilience.Grpc.Tests.Transparency;

/// <summary>
/// A pipeline that changes nothing (none at all, or strategies that let every call pass: a retry that handles nothing, a
/// breaker that never opens, a limiter with permits to spare, a timeout of an hour) makes the interceptors invisible:
/// each call of every kind, to a server behaving one way and ended by the caller one way, is made with and without the
/// client interceptor, and with and without the server interceptor, and everything the caller can observe is compared:
/// messages and their order, headers, status, detail, trailers, exceptions, and the status and trailers read before the
/// call completed.
/// </summary>
public sealed class InterceptorTransparencyTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private TransparencyGrpcServer? _plain;
    private TransparencyGrpcServer? _intercepted;

    public enum CallKind
    {
        Unary,
        ServerStreaming,
        ClientStreaming,
        Duplex,
    }

    public enum CallerAction
    {
        Completes,
        DeadlinePasses,
        Cancels,
        Disposes,
    }

    public async Task InitializeAsync()
    {
        _plain = await TransparencyGrpcServer.StartAsync(null);
        _intercepted = await TransparencyGrpcServer.StartAsync(PassThrough().Build());
    }

    public async Task DisposeAsync()
    {
        await _plain!.DisposeAsync();
        await _intercepted!.DisposeAsync();
    }

    public static TheoryData<CallKind> Kinds() => new(Enum.GetValues<CallKind>());

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_call_through_pipelines_that_change_nothing_is_observably_the_call_without_the_interceptors(CallKind kind)
    {
        var differences = new List<string>();
        foreach (var (behaviour, action) in Cases(kind))
        {
            var baseline = await ObserveAsync(kind, behaviour, action, _plain!, clientPipeline: null);
            foreach (var (name, server, pipeline) in Variants())
            {
                var observed = await ObserveAsync(kind, behaviour, action, server, pipeline);
                if (!baseline.SequenceEqual(observed))
                {
                    differences.Add($"{kind} {behaviour} {action} through {name}:\n  without: {string.Join(" | ", baseline)}\n  with:    {string.Join(" | ", observed)}");
                }
            }
        }

        Assert.True(differences.Count == 0, string.Join("\n", differences));
    }

    [Fact]
    public async Task A_unary_call_ended_by_its_deadline_keeps_the_headers_its_server_sent_as_without_the_interceptor()
    {
        // The server sends its headers at once, then waits past the deadline. Which timer reports the deadline (the
        // client's, the server's, the interceptor's) is a race; the headers that arrived before it are not.
        async Task<(StatusCode Status, string Headers)> DeadlineAsync(ResiliencePipeline? pipeline)
        {
            using var channel = GrpcChannel.ForAddress(_plain!.Address);
            var invoker = pipeline is null ? channel.CreateCallInvoker() : channel.Intercept(new ResilienceClientInterceptor(pipeline));
            var options = new CallOptions(
                new Metadata { { "behaviour", nameof(ServerBehaviour.SlowMidStream) }, { "id", Guid.NewGuid().ToString("N") } },
                DateTime.UtcNow.AddSeconds(2));
            using var call = invoker.AsyncUnaryCall(TransparencyGrpcServer.Unary, null, options, "request");
            var failure = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(Bound));
            Assert.Equal(failure.StatusCode, call.GetStatus().StatusCode);
            return (failure.StatusCode, Show(await call.ResponseHeadersAsync.WaitAsync(Bound)));
        }

        var without = await DeadlineAsync(null);
        var with = await DeadlineAsync(new ResiliencePipelineBuilder().Build());

        Assert.Equal((StatusCode.DeadlineExceeded, "server=Kestrel, x-head=h"), without);
        Assert.Equal(without, with);
    }

    [Fact]
    public async Task A_stream_waiting_for_a_permit_has_not_completed_as_grpc_says_of_its_own_calls()
    {
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        using var channel = GrpcChannel.ForAddress(_plain!.Address);
        var options = new CallOptions(new Metadata { { "behaviour", nameof(ServerBehaviour.Ok) }, { "id", Guid.NewGuid().ToString("N") } });
        var held = limiter.AttemptAcquire(1);

        using var call = channel.Intercept(new ResilienceClientInterceptor(pipeline)).AsyncServerStreamingCall(TransparencyGrpcServer.ServerStream, null, options, "queued");

        var status = Assert.Throws<InvalidOperationException>(() => call.GetStatus());
        var trailers = Assert.Throws<InvalidOperationException>(() => call.GetTrailers());
        Assert.Equal("Unable to get the status because the call is not complete.", status.Message);
        Assert.Equal("Can't get the call trailers because the call has not completed successfully.", trailers.Message);
        held.Dispose();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
    }

    private static IEnumerable<(ServerBehaviour Behaviour, CallerAction Action)> Cases(CallKind kind)
    {
        foreach (var behaviour in new[] { ServerBehaviour.Ok, ServerBehaviour.Failed, ServerBehaviour.ContextStatus, ServerBehaviour.Unavailable, ServerBehaviour.Thrown, ServerBehaviour.Reset })
        {
            yield return (behaviour, CallerAction.Completes);
        }

        // Not compared here: a deadline, as the client's and the server's timers race with or without the interceptors
        // (the status's detail and trailers are the side's that won); a unary call the caller disposes, which ends through
        // the interceptor as cancelled by the client, not as disposed (see docs/grpc.md). A unary call's headers are known
        // through the interceptor once the call has ended (a retry may follow an attempt): a unary call is cancelled
        // before its server sends any, or whether they arrived first would be a race.
        if (kind == CallKind.Unary)
        {
            yield return (ServerBehaviour.Slow, CallerAction.Cancels);
            yield break;
        }

        yield return (ServerBehaviour.Slow, CallerAction.Cancels);
        yield return (ServerBehaviour.SlowMidStream, CallerAction.Cancels);
        yield return (ServerBehaviour.Slow, CallerAction.Disposes);
        yield return (ServerBehaviour.SlowMidStream, CallerAction.Disposes);
    }

    private IEnumerable<(string Name, TransparencyGrpcServer Server, ResiliencePipeline? Pipeline)> Variants()
    {
        yield return ("a client interceptor with an empty pipeline", _plain!, new ResiliencePipelineBuilder().Build());
        yield return ("a client interceptor with pass-through strategies", _plain!, PassThrough().Build());
        yield return ("a client interceptor with pass-through strategies and a timeout", _plain!, PassThrough().AddTimeout(TimeSpan.FromHours(1)).Build());
        yield return ("a server interceptor with pass-through strategies", _intercepted!, null);
    }

    private static ResiliencePipelineBuilder PassThrough() => new ResiliencePipelineBuilder()
        .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false }, _ => false)
        .AddCircuitBreaker(new CircuitBreakerOptions { FailureRatio = 1, MinimumThroughput = 1_000_000, BreakDuration = TimeSpan.FromSeconds(1) }, GrpcOutcomes.IsTransientFailure)
        .AddConcurrencyLimiter(new InFlightLimiterOptions { PermitLimit = 10_000 });

    private static async Task<List<string>> ObserveAsync(CallKind kind, ServerBehaviour behaviour, CallerAction action, TransparencyGrpcServer server, ResiliencePipeline? clientPipeline)
    {
        using var channel = GrpcChannel.ForAddress(server.Address);
        CallInvoker invoker = clientPipeline is null ? channel.CreateCallInvoker() : channel.Intercept(new ResilienceClientInterceptor(clientPipeline));
        var id = Guid.NewGuid().ToString("N");
        using var caller = new CancellationTokenSource();
        var options = new CallOptions(
            headers: new Metadata { { "behaviour", behaviour.ToString() }, { "id", id } },
            deadline: action == CallerAction.DeadlinePasses ? DateTime.UtcNow.AddMilliseconds(200) : DateTime.UtcNow.Add(Bound),
            cancellationToken: caller.Token,
            writeOptions: new WriteOptions(WriteFlags.NoCompress));
        var observed = new List<string>();
        var arrived = TransparencyGrpcServer.ArrivalOf(id).Task;

        switch (kind)
        {
            case CallKind.Unary:
            {
                var call = invoker.AsyncUnaryCall(TransparencyGrpcServer.Unary, null, options, "request");
                Before(call.GetStatus, call.GetTrailers);
                await EndAsync(call.Dispose, call.ResponseHeadersAsync);
                await RecordAsync(observed, "response", () => call.ResponseAsync);
                await RecordEndAsync(observed, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers);
                call.Dispose();
                break;
            }

            case CallKind.ServerStreaming:
            {
                var call = invoker.AsyncServerStreamingCall(TransparencyGrpcServer.ServerStream, null, options, "request");
                Before(call.GetStatus, call.GetTrailers);
                await ReadAsync(call.ResponseStream, call.Dispose, call.ResponseHeadersAsync);
                await RecordEndAsync(observed, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers);
                call.Dispose();
                break;
            }

            case CallKind.ClientStreaming:
            {
                var call = invoker.AsyncClientStreamingCall(TransparencyGrpcServer.ClientStream, null, options);
                Before(call.GetStatus, call.GetTrailers);
                await WriteAsync(call.RequestStream);
                await EndAsync(call.Dispose, call.ResponseHeadersAsync);
                if (behaviour == ServerBehaviour.SlowMidStream && action is CallerAction.Cancels or CallerAction.Disposes)
                {
                    await RecordEndedResponseAsync(call.ResponseAsync);
                }
                else
                {
                    await RecordAsync(observed, "response", () => call.ResponseAsync);
                }

                await RecordEndAsync(observed, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers);
                call.Dispose();
                break;
            }

            default:
            {
                var call = invoker.AsyncDuplexStreamingCall(TransparencyGrpcServer.Duplex, null, options);
                Before(call.GetStatus, call.GetTrailers);
                await WriteAsync(call.RequestStream);
                await ReadAsync(call.ResponseStream, call.Dispose, call.ResponseHeadersAsync);
                await RecordEndAsync(observed, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers);
                call.Dispose();
                break;
            }
        }

        return observed;

        // A call whose server waits has not completed: its status and trailers cannot be read yet.
        void Before(Func<Status> status, Func<Metadata> trailers)
        {
            if (behaviour is ServerBehaviour.Slow or ServerBehaviour.SlowMidStream)
            {
                Record(observed, "status before", () => status().StatusCode.ToString());
                Record(observed, "trailers before", () => Show(trailers()));
            }
        }

        // The caller's end of a call whose server waits: cancelled or disposed once the server holds it, and once the
        // client has the headers of a server that sent them.
        async Task EndAsync(Action dispose, Task<Metadata> headers)
        {
            if (behaviour is ServerBehaviour.Slow or ServerBehaviour.SlowMidStream && action is CallerAction.Cancels or CallerAction.Disposes)
            {
                await arrived.WaitAsync(Bound);
                if (behaviour == ServerBehaviour.SlowMidStream)
                {
                    await headers.WaitAsync(Bound);
                }

                if (action == CallerAction.Cancels)
                {
                    await caller.CancelAsync();
                }
                else
                {
                    dispose();
                }
            }
        }

        // A client stream its caller ends once its headers have arrived fails its response with Cancelled, or, when the
        // end came as gRPC was about to read the response, with a status of gRPC's own making ("Error starting gRPC
        // call": Internal for the response it disposed, Unavailable for the request it aborted), with or without the
        // interceptors. Which one is gRPC's race: the response is recorded as ended by the caller, and the call's status
        // (Cancelled either way), headers and trailers are compared as they are.
        async Task RecordEndedResponseAsync(Task<string> response)
        {
            try
            {
                observed.Add($"response: {await response.WaitAsync(Bound)}");
            }
            catch (RpcException exception) when (exception.StatusCode == StatusCode.Cancelled
                || exception.Status.Detail.StartsWith("Error starting gRPC call.", StringComparison.Ordinal))
            {
                observed.Add("response: ended by its caller");
            }
            catch (Exception exception) when (exception is not TimeoutException)
            {
                observed.Add($"response: {Describe(exception)}");
            }
        }

        async Task WriteAsync(IClientStreamWriter<string> requests)
        {
            // The server reads every request before it answers, unless it fails or waits at once: whether a write then
            // fails is a race with the server, with or without the interceptors, so only the writes it reads are recorded.
            var reads = behaviour is ServerBehaviour.Ok or ServerBehaviour.Failed or ServerBehaviour.ContextStatus or ServerBehaviour.SlowMidStream;
            observed.Add($"write options: {requests.WriteOptions?.Flags}");
            requests.WriteOptions = new WriteOptions(WriteFlags.BufferHint);
            observed.Add($"write options set: {requests.WriteOptions?.Flags}");
            try
            {
                await requests.WriteAsync("a").WaitAsync(Bound);
                await requests.WriteAsync("b", CancellationToken.None).WaitAsync(Bound);
                await requests.CompleteAsync().WaitAsync(Bound);
                if (reads)
                {
                    observed.Add("written");
                }
            }
            catch (Exception exception) when (exception is not TimeoutException)
            {
                if (reads)
                {
                    observed.Add("write: " + Describe(exception));
                }
            }
        }

        async Task ReadAsync(IAsyncStreamReader<string> responses, Action dispose, Task<Metadata> headers)
        {
            var ended = false;
            if (behaviour == ServerBehaviour.Slow)
            {
                await EndAsync(dispose, headers);
                ended = true;
            }

            try
            {
                while (await responses.MoveNext(CancellationToken.None).WaitAsync(Bound))
                {
                    observed.Add("message: " + responses.Current);
                    if (responses.Current == "first" && !ended)
                    {
                        await EndAsync(dispose, headers);
                        ended = true;
                    }
                }

                observed.Add("end of stream");
            }
            catch (Exception exception) when (exception is not TimeoutException)
            {
                observed.Add("read: " + Describe(exception));
            }
        }
    }

    private static async Task RecordAsync<T>(List<string> observed, string what, Func<Task<T>> read)
    {
        try
        {
            observed.Add($"{what}: {await read().WaitAsync(Bound)}");
        }
        catch (Exception exception) when (exception is not TimeoutException)
        {
            observed.Add($"{what}: {Describe(exception)}");
        }
    }

    private static async Task RecordEndAsync(List<string> observed, Task<Metadata> headers, Func<Status> status, Func<Metadata> trailers)
    {
        await RecordAsync(observed, "headers", async () => Show(await headers));
        Record(observed, "status", () => $"{status().StatusCode} ({status().Detail}) {status().DebugException?.GetType().Name}");
        Record(observed, "trailers", () => Show(trailers()));
    }

    private static void Record(List<string> observed, string what, Func<string> read)
    {
        try
        {
            observed.Add($"{what}: {read()}");
        }
        catch (Exception exception)
        {
            observed.Add($"{what}: {Describe(exception)}");
        }
    }

    // The server's own headers: the date changes from call to call.
    private static string Show(Metadata metadata) =>
        string.Join(", ", metadata.Where(entry => entry.Key is not "date").Select(entry => $"{entry.Key}={entry.Value}"));

    private static string Describe(Exception exception) => exception switch
    {
        RpcException rpc => $"RpcException {rpc.StatusCode} ({rpc.Status.Detail}) trailers [{Show(rpc.Trailers)}] debug {rpc.Status.DebugException?.GetType().Name}",
        _ => $"{exception.GetType().Name}({exception.Message.ReplaceLineEndings(" ")}) > {exception.InnerException?.GetType().Name}",
    };
}
