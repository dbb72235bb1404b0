using System.Runtime.ExceptionServices;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Resilience.Grpc;

/// <summary>
/// A server interceptor that admits calls through a resilience pipeline, typically a concurrency or rate limiter that
/// sheds load before the handler runs. A refused call ends with <see cref="StatusCode.ResourceExhausted"/> (a limiter) or
/// <see cref="StatusCode.Unavailable"/> (an open circuit), and the refusal's retry-after in the
/// <see cref="GrpcOutcomes.RetryPushbackTrailer"/> trailer, so clients back off (gRFC A6's server pushback).
/// </summary>
/// <remarks>
/// The handler runs with its own <see cref="ServerCallContext"/>: the pipeline's token cannot replace the call's, so a
/// timeout strategy here reports a timeout but cannot cancel the handler (use the call's deadline for that). The client's
/// cancellation is the pipeline's caller token: it is never counted as a failure. A streaming handler that fails once
/// its call is cancelled (a read under way fails with gRPC's <see cref="IOException"/> when the client resets the stream)
/// counts as that cancellation too, and the handler's own exception still ends the call. A unary handler's failure is
/// judged as it is thrown: one ended by the call's token should throw <see cref="OperationCanceledException"/>, as the
/// token's own methods do. Every kind of call is admitted through
/// the pipeline; a streaming call holds its permit until its handler returns, and runs once: a retry, a timeout or a
/// fallback of the pipeline stands aside for it (see <see cref="ResiliencePipeline.ExecuteSingleAttemptOutcomeAsync{TResult, TState}"/>).
/// </remarks>
public sealed class ResilienceServerInterceptor : Interceptor
{
    // How long a streaming handler's failure that may be a reset waits for the call's token: Kestrel has queued its
    // cancellation already.
    private static readonly TimeSpan CancellationGrace = TimeSpan.FromMilliseconds(100);

    private readonly Func<string, ResiliencePipeline?> _pipelineOf;

    /// <summary>Initializes an interceptor that admits every call through <paramref name="pipeline"/>.</summary>
    /// <param name="pipeline">The pipeline; it may be shared.</param>
    public ResilienceServerInterceptor(ResiliencePipeline pipeline)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        _pipelineOf = _ => pipeline;
    }

    /// <summary>Initializes an interceptor that picks a pipeline per method.</summary>
    /// <param name="pipelineOf">Returns the pipeline for a method's full name (<c>/package.Service/Method</c>), or <see langword="null"/> to let its calls pass.</param>
    public ResilienceServerInterceptor(Func<string, ResiliencePipeline?> pipelineOf)
    {
        ArgumentNullException.ThrowIfNull(pipelineOf);
        _pipelineOf = pipelineOf;
    }

    /// <inheritdoc />
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return RunAsync(context, static call => call.continuation(call.request, call.context), (continuation, request, context), stream: false);
    }

    /// <inheritdoc />
    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return RunAsync(
            context,
            static async call =>
            {
                try
                {
                    return await call.continuation(call.requestStream, call.context).ConfigureAwait(false);
                }
                catch (Exception exception) when (MayBeEndedByCall(exception, call.context))
                {
                    ExceptionDispatchInfo.Throw(await AsJudgedAsync(exception, call.context).ConfigureAwait(false));
                    throw;
                }
            },
            (continuation, requestStream, context),
            stream: true);
    }

    /// <inheritdoc />
    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return RunAsync(
            context,
            static async call =>
            {
                try
                {
                    await call.continuation(call.request, call.responseStream, call.context).ConfigureAwait(false);
                }
                catch (Exception exception) when (MayBeEndedByCall(exception, call.context))
                {
                    ExceptionDispatchInfo.Throw(await AsJudgedAsync(exception, call.context).ConfigureAwait(false));
                }

                return true;
            },
            (continuation, request, responseStream, context),
            stream: true);
    }

    /// <inheritdoc />
    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return RunAsync(
            context,
            static async call =>
            {
                try
                {
                    await call.continuation(call.requestStream, call.responseStream, call.context).ConfigureAwait(false);
                }
                catch (Exception exception) when (MayBeEndedByCall(exception, call.context))
                {
                    ExceptionDispatchInfo.Throw(await AsJudgedAsync(exception, call.context).ConfigureAwait(false));
                }

                return true;
            },
            (continuation, requestStream, responseStream, context),
            stream: true);
    }

    /// <summary>
    /// Admits the call through the method's pipeline, if any, and runs its handler (static, with the call as state: no
    /// closure per call). A streaming handler is one attempt: it cannot run again on a request stream already read and a
    /// response stream already written, so only the pipeline's admission and recording strategies act on it.
    /// </summary>
    private async Task<T> RunAsync<TCall, T>(ServerCallContext context, Func<TCall, Task<T>> handler, TCall call, bool stream)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (_pipelineOf(context.Method) is not { } pipeline)
        {
            return await handler(call).ConfigureAwait(false);
        }

        var outcome = stream
            ? await pipeline
                .ExecuteSingleAttemptOutcomeAsync(static (state, _) => new ValueTask<T>(state.handler(state.call)), (handler, call), context.CancellationToken)
                .ConfigureAwait(false)
            : await pipeline
                .ExecuteOutcomeAsync(static (state, _) => new ValueTask<T>(state.handler(state.call)), (handler, call), context.CancellationToken)
                .ConfigureAwait(false);

        // A rejection's exception is made on each read: only a failure that ran the handler is looked at here.
        if (!outcome.IsSuccess && !outcome.IsRejected && outcome.Exception is ServerCallCancelledException { InnerException: { } failure })
        {
            // The pipeline saw the call's cancellation; gRPC sees what the handler threw, as without the interceptor.
            ExceptionDispatchInfo.Throw(failure);
        }

        // A refusal becomes an RpcException whose trailers (the pushback) the server sends with the status.
        return GrpcOutcomes.ResultOrThrow(in outcome);
    }

    /// <summary>
    /// Whether a streaming handler's failure may be its call ending: once the client cancels or resets the call (or its
    /// deadline passes), gRPC fails a read or write under way with an <see cref="IOException"/> (or the server's
    /// abort, an <see cref="OperationCanceledException"/>) and any later one with an
    /// <see cref="InvalidOperationException"/>. A cancellation with the call's token already cancelled is the pipeline's
    /// caller cancellation as it is.
    /// </summary>
    private static bool MayBeEndedByCall(Exception exception, ServerCallContext context) => context.CancellationToken.IsCancellationRequested
        ? exception is not OperationCanceledException
        : exception is IOException or OperationCanceledException;

    /// <summary>
    /// Returns what the pipeline is to judge for a streaming handler's failure: the caller's cancellation when the call
    /// ended (the handler's exception inside, thrown to gRPC afterwards), the failure itself otherwise. Kestrel fails the
    /// streams of a reset call at once but cancels the call's token afterwards, on the thread pool: a failure that may
    /// be the reset waits a moment for the token (on this failure path only) before it is judged the handler's own.
    /// </summary>
    private static async Task<Exception> AsJudgedAsync(Exception exception, ServerCallContext context)
    {
        var token = context.CancellationToken;
        if (!token.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(CancellationGrace, token).ConfigureAwait(false);
                return exception;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // The call's token was cancelled: the failure was the call ending.
            }
        }

        return new ServerCallCancelledException(exception, token);
    }
}
