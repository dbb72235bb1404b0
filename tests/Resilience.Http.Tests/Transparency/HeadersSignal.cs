using System.Collections.Concurrent;

namespace Resilience.Http.Tests.Transparency;

/// <summary>
/// The innermost handler of both clients compared: it tells the server, through <see cref="Received"/>, that a request's
/// response headers have reached the client (keyed by the request's <c>x-id</c>), so a server that drops the connection
/// mid-body does it after the headers, never sooner.
/// </summary>
internal sealed class HeadersSignal(ConcurrentDictionary<string, TaskCompletionSource> received) : DelegatingHandler(new SocketsHttpHandler())
{
    public static string IdOf(HttpRequestMessage request) => request.Headers.TryGetValues("x-id", out var values) ? values.First() : string.Empty;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        received.GetOrAdd(IdOf(request), _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return response;
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = base.Send(request, cancellationToken);
        received.GetOrAdd(IdOf(request), _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return response;
    }
}
