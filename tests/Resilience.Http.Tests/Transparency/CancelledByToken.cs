namespace Resilience.Http.Tests.Transparency;

/// <summary>
/// An inner handler that cancels its caller, then fails as a transport does when its token is cancelled: a
/// <see cref="TaskCanceledException"/> raised from the token it was given, around the transport's own exception.
/// </summary>
internal sealed class CancelledByToken(CancellationTokenSource caller, IOException transport) : HttpMessageHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Task.FromException<HttpResponseMessage>(Cancel(cancellationToken));

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) => throw Cancel(cancellationToken);

    private TaskCanceledException Cancel(CancellationToken cancellationToken)
    {
        caller.Cancel();
        return new TaskCanceledException("cancelled in the transport", transport, cancellationToken);
    }
}
