using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Resilience.Grpc;

/// <summary>A server-streaming call through a pipeline: it ends when its response stream does, or when it is disposed.</summary>
internal sealed class ServerStreamAttempt<TRequest, TResponse> : StreamAttempt<AsyncServerStreamingCall<TResponse>>
    where TRequest : class
    where TResponse : class
{
    private readonly TRequest _request;
    private readonly ClientInterceptorContext<TRequest, TResponse> _context;
    private readonly Interceptor.AsyncServerStreamingCallContinuation<TRequest, TResponse> _continuation;

    public ServerStreamAttempt(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, Interceptor.AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
        : base(context.Options)
    {
        _request = request;
        _context = context;
        _continuation = continuation;
    }

    /// <summary>Starts admission and returns the caller's call (static callbacks with this attempt as their state).</summary>
    public AsyncServerStreamingCall<TResponse> Start(ResiliencePipeline pipeline)
    {
        Admit(pipeline);
        return new(
            new AdmittedResponseStream<AsyncServerStreamingCall<TResponse>, TResponse>(this, static call => call.ResponseStream),
            HeadersOfAttempt,
            StatusOfAttempt,
            TrailersOfAttempt,
            DisposeAttempt,
            this);
    }

    protected override AsyncServerStreamingCall<TResponse> Open(CallOptions options) =>
        _continuation(_request, new ClientInterceptorContext<TRequest, TResponse>(_context.Method, _context.Host, options));

    protected override Task<Metadata> HeadersOf(AsyncServerStreamingCall<TResponse> call) => call.ResponseHeadersAsync;

    protected override Status StatusOf(AsyncServerStreamingCall<TResponse> call) => call.GetStatus();

    protected override Metadata TrailersOf(AsyncServerStreamingCall<TResponse> call) => call.GetTrailers();

    protected override void DisposeCall(AsyncServerStreamingCall<TResponse> call) => call.Dispose();
}
