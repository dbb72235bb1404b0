using System.Collections.Concurrent;
using System.Globalization;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Resilience.Grpc.Tests.Faults;

/// <summary>
/// The interceptor below the <see cref="ResilienceClientInterceptor"/>: numbers each attempt of a call in a request
/// header the server reads (on a copy of the call's headers: the attempts share the caller's), and records how each
/// unary attempt ended. A stream's one attempt is recorded as it opens.
/// </summary>
internal sealed class AttemptRecorder(Func<int, bool> callerCancelled) : Interceptor
{
    private readonly ConcurrentDictionary<int, ConcurrentQueue<RecordedAttempt>> _attempts = new();
    private readonly ConcurrentDictionary<int, int> _numbers = new();

    /// <summary>The attempts of call <paramref name="id"/>, in the order they were made.</summary>
    public IReadOnlyList<RecordedAttempt> AttemptsOf(int id) => _attempts.TryGetValue(id, out var attempts) ? attempts.ToArray() : [];

    /// <summary>Every attempt of every call.</summary>
    public int Total => _attempts.Values.Sum(static attempts => attempts.Count);

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        // The attempt's response is recorded before the interceptor above sees it: in order, and with the caller's token
        // as it stood when the attempt ended.
        var (id, number, attemptContext) = Numbered(context);
        var call = continuation(request, attemptContext);
        return new AsyncUnaryCall<TResponse>(RecordAsync(id, number, call.ResponseAsync), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        var (id, number, attemptContext) = Numbered(context);
        try
        {
            var response = continuation(request, attemptContext);
            Record(id, new RecordedAttempt(number, null, false));
            return response;
        }
        catch (RpcException exception)
        {
            Record(id, new RecordedAttempt(number, exception, callerCancelled(id)));
            throw;
        }
    }

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        var (id, number, attemptContext) = Numbered(context);
        Record(id, new RecordedAttempt(number, null, false));
        return continuation(request, attemptContext);
    }

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        var (id, number, attemptContext) = Numbered(context);
        Record(id, new RecordedAttempt(number, null, false));
        return continuation(attemptContext);
    }

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        var (id, number, attemptContext) = Numbered(context);
        Record(id, new RecordedAttempt(number, null, false));
        return continuation(attemptContext);
    }

    private (int Id, int Number, ClientInterceptorContext<TRequest, TResponse> Context) Numbered<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class
        where TResponse : class
    {
        var id = int.Parse(context.Options.Headers!.GetValue(GrpcCallPlan.CallHeader)!, CultureInfo.InvariantCulture);
        var number = _numbers.AddOrUpdate(id, 1, static (_, n) => n + 1);
        var headers = new Metadata();
        foreach (var entry in context.Options.Headers!)
        {
            headers.Add(entry);
        }

        headers.Add(GrpcCallPlan.AttemptHeader, number.ToString(CultureInfo.InvariantCulture));
        return (id, number, new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers)));
    }

    private async Task<TResponse> RecordAsync<TResponse>(int id, int number, Task<TResponse> response)
    {
        try
        {
            var result = await response;
            Record(id, new RecordedAttempt(number, null, false));
            return result;
        }
        catch (RpcException exception)
        {
            Record(id, new RecordedAttempt(number, exception, callerCancelled(id)));
            throw;
        }
    }

    private void Record(int id, RecordedAttempt attempt) => _attempts.GetOrAdd(id, static _ => new()).Enqueue(attempt);
}
