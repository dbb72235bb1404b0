using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Resilience.Grpc;

/// <summary>
/// A client interceptor that runs calls through a resilience pipeline: each attempt of a unary call is a call on the
/// channel, judged by the pipeline's predicates (see <see cref="GrpcOutcomes.IsTransientFailure"/>); a streaming call is
/// one attempt, admitted by the pipeline's breakers and limiters and judged by its final status.
/// </summary>
/// <remarks>
/// The interceptor only translates. The pipeline's token becomes each attempt's cancellation token; the call's deadline
/// bounds the whole call, and ends it as the caller's cancellation does (with <see cref="StatusCode.DeadlineExceeded"/>,
/// not retried, never counted as a failure); a refusal (an open circuit, no permit, a timeout) reaches the caller as an
/// <see cref="RpcException"/> with the status <see cref="GrpcOutcomes.StatusOf"/> gives and the pipeline's exception as
/// <see cref="Status.DebugException"/>; a cancelled call stays <see cref="StatusCode.Cancelled"/> and is never counted as a
/// failure. A streaming call (server, client or duplex) runs as a single attempt
/// (<see cref="ResiliencePipeline.ExecuteSingleAttemptOutcomeAsync{TResult, TState}"/>): a refusal ends it before it
/// leaves the client, with the status above, and so does its deadline passing while it waits for admission (with
/// <see cref="StatusCode.DeadlineExceeded"/>, counted as neither a success nor a failure); an admitted stream holds its permits until it ends (its response stream
/// read to its end or failed, a client stream's response, the caller's cancellation or disposal, or its deadline, which gRPC
/// ends the call at: an open stream whose end nobody reads is ended with the status gRPC reports) and its final status is
/// judged once. Retries, timeouts and fallbacks stand aside: a stream cannot be sent again, and its life is bounded by
/// its deadline, not by a per-attempt timeout.
/// </remarks>
public sealed class ResilienceClientInterceptor : Interceptor
{
    private readonly Func<IMethod, ResiliencePipeline?> _pipelineOf;

    /// <summary>Initializes an interceptor that runs every call through <paramref name="pipeline"/>.</summary>
    /// <param name="pipeline">The pipeline; it may be shared.</param>
    public ResilienceClientInterceptor(ResiliencePipeline pipeline)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        _pipelineOf = _ => pipeline;
    }

    /// <summary>Initializes an interceptor that picks a pipeline per method (for example, retries only for idempotent methods).</summary>
    /// <param name="pipelineOf">Returns the pipeline for a method, or <see langword="null"/> to let its calls pass untouched.</param>
    public ResilienceClientInterceptor(Func<IMethod, ResiliencePipeline?> pipelineOf)
    {
        ArgumentNullException.ThrowIfNull(pipelineOf);
        _pipelineOf = pipelineOf;
    }

    /// <inheritdoc />
    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return _pipelineOf(context.Method) is { } pipeline
            ? new UnaryAttempts<TRequest, TResponse>(request, context, continuation).Start(pipeline)
            : continuation(request, context);
    }

    /// <inheritdoc />
    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return _pipelineOf(context.Method) is { } pipeline
            ? new ServerStreamAttempt<TRequest, TResponse>(request, context, continuation).Start(pipeline)
            : continuation(request, context);
    }

    /// <inheritdoc />
    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return _pipelineOf(context.Method) is { } pipeline
            ? new ClientStreamAttempt<TRequest, TResponse>(context, continuation).Start(pipeline)
            : continuation(context);
    }

    /// <inheritdoc />
    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return _pipelineOf(context.Method) is { } pipeline
            ? new DuplexStreamAttempt<TRequest, TResponse>(context, continuation).Start(pipeline)
            : continuation(context);
    }

    /// <inheritdoc />
    public override TResponse BlockingUnaryCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        if (_pipelineOf(context.Method) is not { } pipeline)
        {
            return continuation(request, context);
        }

        using var deadline = CallDeadline.Of(context.Options.Deadline);
        using var bounded = deadline is null ? null : CancellationTokenSource.CreateLinkedTokenSource(context.Options.CancellationToken, deadline.Token);
        var pipelineToken = bounded?.Token ?? context.Options.CancellationToken;
        var outcome = pipeline.ExecuteOutcome(
            static (call, token) =>
            {
                try
                {
                    var options = call.context.Options.WithCancellationToken(token);
                    return call.continuation(call.request, new ClientInterceptorContext<TRequest, TResponse>(call.context.Method, call.context.Host, options));
                }
                catch (RpcException exception) when (GrpcOutcomes.IsCancellation(exception, token))
                {
                    throw GrpcOutcomes.ToCancellation(exception, token);
                }
                catch (RpcException exception) when (call.deadline?.Reports(exception) == true)
                {
                    throw GrpcOutcomes.ToCancellation(exception, token);
                }
            },
            (request, context, continuation, deadline),
            pipelineToken);
        if (!outcome.IsSuccess && GrpcOutcomes.EndedByCaller(outcome.Exception!, pipelineToken, deadline, context.Options.CancellationToken) is { } ended)
        {
            throw ended;
        }

        return GrpcOutcomes.ResultOrThrow(in outcome);
    }
}
