using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Resilience.Grpc;

/// <summary>A client-streaming call through a pipeline: it ends when its response arrives or fails, or when it is disposed.</summary>
internal sealed class ClientStreamAttempt<TRequest, TResponse> : StreamAttempt<AsyncClientStreamingCall<TRequest, TResponse>>
    where TRequest : class
    where TResponse : class
{
    private readonly ClientInterceptorContext<TRequest, TResponse> _context;
    private readonly Interceptor.AsyncClientStreamingCallContinuation<TRequest, TResponse> _continuation;

    public ClientStreamAttempt(ClientInterceptorContext<TRequest, TResponse> context, Interceptor.AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
        : base(context.Options)
    {
        _context = context;
        _continuation = continuation;
    }

    /// <summary>Starts admission and returns the caller's call (static callbacks with this attempt as their state).</summary>
    public AsyncClientStreamingCall<TRequest, TResponse> Start(ResiliencePipeline pipeline)
    {
        Admit(pipeline);
        var response = ResponseAsync();

        // A caller whose write failed may give the call up without reading its response: the response's failure (a
        // refusal, a cancellation) is observed here, so it is not reported as unobserved; an awaiting caller still sees it.
        response.ContinueWith(
            static task => _ = task.Exception,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        return new(
            new AdmittedRequestStream<AsyncClientStreamingCall<TRequest, TResponse>, TRequest>(this, static call => call.RequestStream, _context.Options.WriteOptions),
            response,
            HeadersOfAttempt,
            StatusOfAttempt,
            TrailersOfAttempt,
            DisposeAttempt,
            this);
    }

    protected override AsyncClientStreamingCall<TRequest, TResponse> Open(CallOptions options) =>
        _continuation(new ClientInterceptorContext<TRequest, TResponse>(_context.Method, _context.Host, options));

    protected override Task<Metadata> HeadersOf(AsyncClientStreamingCall<TRequest, TResponse> call) => call.ResponseHeadersAsync;

    protected override Status StatusOf(AsyncClientStreamingCall<TRequest, TResponse> call) => call.GetStatus();

    protected override Metadata TrailersOf(AsyncClientStreamingCall<TRequest, TResponse> call) => call.GetTrailers();

    protected override void DisposeCall(AsyncClientStreamingCall<TRequest, TResponse> call) => call.Dispose();

    /// <summary>The call's response, which ends it: awaited from the start, whether or not the caller awaits it.</summary>
    private async Task<TResponse> ResponseAsync()
    {
        var call = await OpenedAsync(CancellationToken.None).ConfigureAwait(false);
        TResponse response;
        try
        {
            response = await call.ResponseAsync.ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            await EndAsync(exception, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        await EndAsync(null, CancellationToken.None).ConfigureAwait(false);
        return response;
    }
}
