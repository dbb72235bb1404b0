using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Resilience.Grpc.Tests;

/// <summary>
/// A server interceptor added before the one under test: it tells the test when a duplex call has left every
/// interceptor inside it (the pipeline has recorded the call by then); likewise a client-streaming call.
/// </summary>
internal sealed class HandlerEnded(TaskCompletionSource ended) : Interceptor
{
    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        finally
        {
            ended.TrySetResult();
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        finally
        {
            ended.TrySetResult();
        }
    }
}
