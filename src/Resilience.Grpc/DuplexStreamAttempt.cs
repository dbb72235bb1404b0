using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Resilience.Grpc;

/// <summary>A duplex streaming call through a pipeline: it ends when its response stream does, or when it is disposed.</summary>
internal sealed class DuplexStreamAttempt<TRequest, TResponse> : StreamAttempt<AsyncDuplexStreamingCall<TRequest, TResponse>>
    where TRequest : class
    where TResponse : class
{
    private readonly ClientInterceptorContext<TRequest, TResponse> _context;
    private readonly Interceptor.AsyncDuplexStreamingCallContinuation<TRequest, TResponse> _continuation;

    public DuplexStreamAttempt(ClientInterceptorContext<TRequest, TResponse> context, Interceptor.AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
        : base(context.Options)
    {
        _context = context;
        _continuation = continuation;
    }

    /// <summary>Starts admission and returns the caller's call (static callbacks with this attempt as their state).</summary>
    public AsyncDuplexStreamingCall<TRequest, TResponse> Start(ResiliencePipeline pipeline)
    {
        Admit(pipeline);
        return new(
            new AdmittedRequestStream<AsyncDuplexStreamingCall<TRequest, TResponse>, TRequest>(this, static call => call.RequestStream, _context.Options.WriteOptions),
            new AdmittedResponseStream<AsyncDuplexStreamingCall<TRequest, TResponse>, TResponse>(this, static call => call.ResponseStream),
            HeadersOfAttempt,
            StatusOfAttempt,
            TrailersOfAttempt,
            DisposeAttempt,
            this);
    }

    protected override AsyncDuplexStreamingCall<TRequest, TResponse> Open(CallOptions options) =>
        _continuation(new ClientInterceptorContext<TRequest, TResponse>(_context.Method, _context.Host, options));

    protected override Task<Metadata> HeadersOf(AsyncDuplexStreamingCall<TRequest, TResponse> call) => call.ResponseHeadersAsync;

    protected override Status StatusOf(AsyncDuplexStreamingCall<TRequest, TResponse> call) => call.GetStatus();

    protected override Metadata TrailersOf(AsyncDuplexStreamingCall<TRequest, TResponse> call) => call.GetTrailers();

    protected override void DisposeCall(AsyncDuplexStreamingCall<TRequest, TResponse> call) => call.Dispose();
}
