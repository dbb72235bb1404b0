using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Resilience.Grpc;

/// <summary>
/// The attempts of one unary client call through a pipeline. Each attempt is a new call on the channel with the
/// pipeline's token; the caller sees the last attempt's headers, status and trailers, or a refusal's status.
/// </summary>
internal sealed class UnaryAttempts<TRequest, TResponse>
    where TRequest : class
    where TResponse : class
{
    private readonly TRequest _request;
    private readonly ClientInterceptorContext<TRequest, TResponse> _context;
    private readonly Interceptor.AsyncUnaryCallContinuation<TRequest, TResponse> _continuation;

    // Disposing the call is the caller's way to cancel it; its deadline ends it too.
    private readonly CancellationTokenSource _disposed;
    private readonly CallDeadline? _deadline;
    private Task<TResponse>? _response;
    private AsyncUnaryCall<TResponse>? _last;

    // The response headers, read once as gRPC's call reads its own: every read is the same task, whose failure is
    // observed here (gRPC observes its own), so a read the caller drops is not reported as unobserved.
    private Task<Metadata>? _headers;

    // The status the pipeline's refusal ended the call with: no attempt's headers or trailers are the call's.
    private RpcException? _refusal;

    // The status the call ended with when its caller ended it (its deadline, a cancellation no attempt reported): the
    // call's status, while its headers and trailers stay the last attempt's, as on gRPC's own call.
    private RpcException? _endedByCaller;
    private int _released;

    public UnaryAttempts(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, Interceptor.AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        _request = request;
        _context = context;
        _continuation = continuation;
        _deadline = CallDeadline.Of(context.Options.Deadline);
        _disposed = _deadline is null
            ? CancellationTokenSource.CreateLinkedTokenSource(context.Options.CancellationToken)
            : CancellationTokenSource.CreateLinkedTokenSource(context.Options.CancellationToken, _deadline.Token);
    }

    /// <summary>
    /// Starts the call. The callbacks are static, with this call as their state (no delegate per call), and the headers
    /// are awaited only when the caller asks for them.
    /// </summary>
    public AsyncUnaryCall<TResponse> Start(ResiliencePipeline pipeline)
    {
        _response = RunAsync(pipeline);
        return new(
            _response,
            static state => ((UnaryAttempts<TRequest, TResponse>)state).Headers(),
            static state => ((UnaryAttempts<TRequest, TResponse>)state).GetStatus(),
            static state => ((UnaryAttempts<TRequest, TResponse>)state).GetTrailers(),
            static state => ((UnaryAttempts<TRequest, TResponse>)state).Dispose(),
            this);
    }

    private async Task<TResponse> RunAsync(ResiliencePipeline pipeline)
    {
        // Read once: disposing the call disposes the source.
        var callerToken = _disposed.Token;
        try
        {
            var outcome = await pipeline
                .ExecuteOutcomeAsync(static (attempts, token) => attempts.AttemptAsync(token), this, callerToken)
                .ConfigureAwait(false);
            if (!outcome.IsSuccess && GrpcOutcomes.EndedByCaller(outcome.Exception!, callerToken, _deadline, _context.Options.CancellationToken) is { } ended)
            {
                _endedByCaller = ended;
                throw ended;
            }

            return GrpcOutcomes.ResultOrThrow(in outcome);
        }
        catch (RpcException refusal) when (refusal.Status.DebugException is ResilienceException)
        {
            // The pipeline refused: the call's status and trailers are the refusal's, not the last attempt's.
            _refusal = refusal;
            throw;
        }
        finally
        {
            ReleaseCancellation(cancel: false);
            _deadline?.Dispose();
        }
    }

    private async ValueTask<TResponse> AttemptAsync(CancellationToken cancellationToken)
    {
        _last?.Dispose();
        var options = _context.Options.WithCancellationToken(cancellationToken);
        var call = _continuation(_request, new ClientInterceptorContext<TRequest, TResponse>(_context.Method, _context.Host, options));
        _last = call;
        try
        {
            return await call.ResponseAsync.ConfigureAwait(false);
        }
        catch (RpcException exception) when (GrpcOutcomes.IsCancellation(exception, cancellationToken))
        {
            throw GrpcOutcomes.ToCancellation(exception, cancellationToken);
        }
        catch (RpcException exception) when (_deadline?.Reports(exception) == true)
        {
            // gRPC saw the deadline pass before its timer here did (which now has fired): the caller's bound, as above.
            throw GrpcOutcomes.ToCancellation(exception, cancellationToken);
        }
    }

    /// <summary>The call's response headers: one task, however often the caller asks.</summary>
    private Task<Metadata> Headers() => CachedTask.Of(ref _headers, this, static attempts => attempts.HeadersAsync());

    private async Task<Metadata> HeadersAsync()
    {
        // The headers are the last attempt's, known once the call has ended (however it ended).
        await ((Task)_response!).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_refusal is not null)
        {
            return [];
        }

        var ended = _endedByCaller;
        if (_last is not { } last)
        {
            // Ended by its caller before any attempt: no headers ever came, and gRPC fails the read with the call's status.
            return ended is null ? [] : throw GrpcOutcomes.Copy(ended);
        }

        try
        {
            return await last.ResponseHeadersAsync.ConfigureAwait(false);
        }
        catch (RpcException) when (ended is not null)
        {
            // Ended by its caller: headers that arrived before the end are the call's; an attempt that got none fails as
            // the call did.
            throw GrpcOutcomes.Copy(ended);
        }
    }

    // Until the call has ended, an attempt's status is not the call's: between attempts (a retry's delay) the last one
    // has failed, yet the next may succeed. gRPC throws for a call not yet complete; so does this one.
    private Status GetStatus() => Ended
        ? _refusal?.Status ?? _endedByCaller?.Status ?? _last?.GetStatus() ?? throw CallNotCompleted.StatusUnknown()
        : throw CallNotCompleted.StatusUnknown();

    private Metadata GetTrailers() => Ended
        ? _refusal?.Trailers ?? _last?.GetTrailers() ?? throw CallNotCompleted.TrailersUnknown()
        : throw CallNotCompleted.TrailersUnknown();

    private bool Ended => _response is { IsCompleted: true };

    private void Dispose()
    {
        ReleaseCancellation(cancel: true);
        _last?.Dispose();
    }

    /// <summary>Disposes the linked source once: when the call ends, or when the caller disposes it first (which cancels it).</summary>
    private void ReleaseCancellation(bool cancel) => CallCancellation.Release(_disposed, ref _released, cancel);
}
