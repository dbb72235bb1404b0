using System.Net;

namespace Resilience.Benchmarks.Http;

/// <summary>Answers every request at once with one shared 200 response: the benchmarks measure the handlers above it.</summary>
internal sealed class AnsweringHandler : HttpMessageHandler
{
    private readonly Task<HttpResponseMessage> _ok = Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => _ok;
}
