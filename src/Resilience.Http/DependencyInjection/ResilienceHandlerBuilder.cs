using Microsoft.Extensions.DependencyInjection;
using Resilience.DependencyInjection;

namespace Resilience.Http;

/// <summary>
/// The client's builder after <c>AddResilienceHandler</c> or <c>AddStandardResilienceHandler</c>: the client's builder
/// still (further calls configure the client as before), and the place to choose an instance of the pipeline per request,
/// such as one breaker per downstream host (<see cref="SelectPipelineByAuthority"/>).
/// </summary>
/// <remarks>
/// Without a selection, every request of the client goes through the pipeline's single instance: one breaker, one limiter
/// for every host the client calls. With one, each request goes through the instance
/// <see cref="ResiliencePipelineProvider.GetPipeline{T}(string, string)"/> serves for its key: created on first use from
/// the pipeline's current settings, reached by every reload, at most <see cref="PipelineInstanceOptions.MaxInstances"/>
/// per pipeline (the least recently used dropped past that).
/// </remarks>
public sealed class ResilienceHandlerBuilder : IHttpClientBuilder
{
    private readonly IHttpClientBuilder _client;
    private Func<HttpRequestMessage, string>? _keySelector;
    private bool _byAuthority;
    private AuthorityKeys? _authorities;
    private HttpMethod[] _unretriedMethods = [];

    internal ResilienceHandlerBuilder(IHttpClientBuilder client, string pipelineName)
    {
        _client = client;
        PipelineName = pipelineName;
    }

    /// <summary>Gets the client's name.</summary>
    public string Name => _client.Name;

    /// <summary>Gets the services.</summary>
    public IServiceCollection Services => _client.Services;

    /// <summary>Gets the name of the pipeline the handler sends requests through.</summary>
    public string PipelineName { get; }

    /// <summary>
    /// Sends each request through the pipeline's instance for its authority, <c>scheme://host:port</c> (the port always
    /// written, the host in its ASCII form): one breaker, one set of limiters per downstream host, so that a failing host
    /// does not break calls to the others. A request without an absolute <see cref="HttpRequestMessage.RequestUri"/>
    /// (<see cref="HttpClient"/> always gives one; only a caller of the handler itself can omit it) goes through the
    /// pipeline's single instance.
    /// </summary>
    /// <remarks>
    /// The key of an authority is built once and kept (as many as <see cref="PipelineInstanceOptions.MaxInstances"/>), so a
    /// request to a known host allocates nothing for its selection.
    /// </remarks>
    /// <returns>This builder.</returns>
    public ResilienceHandlerBuilder SelectPipelineByAuthority()
    {
        _byAuthority = true;
        _keySelector = null;
        return this;
    }

    /// <summary>
    /// Sends each request through the pipeline's instance for the key <paramref name="keySelector"/> gives it (a tenant, a
    /// region). The keys' number should be bounded: past <see cref="PipelineInstanceOptions.MaxInstances"/> instances,
    /// the least recently used is dropped with its state.
    /// </summary>
    /// <param name="keySelector">Gives a request's key; called once per request, before the first attempt. It must not return <see langword="null"/>.</param>
    /// <returns>This builder.</returns>
    public ResilienceHandlerBuilder SelectPipelineBy(Func<HttpRequestMessage, string> keySelector)
    {
        ArgumentNullException.ThrowIfNull(keySelector);
        _keySelector = keySelector;
        _byAuthority = false;
        return this;
    }

    /// <summary>
    /// Sends requests of the unsafe methods (POST, PUT, PATCH, DELETE and CONNECT: every method but GET, HEAD, OPTIONS
    /// and TRACE) once, never repeated: they go through the pipeline without its retries, and its breakers, limiters,
    /// timeouts and fallbacks act on them as on any request. Replaces the methods given before.
    /// </summary>
    /// <remarks>
    /// A retry after a timeout or a reset connection could repeat a request whose first attempt reached the server (an
    /// order placed twice). PUT and DELETE are idempotent by the HTTP specification, but a server is not always so: use
    /// <see cref="DisableRetriesFor"/> to name the methods yourself.
    /// </remarks>
    /// <returns>This builder.</returns>
    public ResilienceHandlerBuilder DisableRetriesForUnsafeHttpMethods() =>
        DisableRetriesFor(HttpMethod.Post, HttpMethod.Put, HttpMethod.Patch, HttpMethod.Delete, HttpMethod.Connect);

    /// <summary>
    /// Sends requests of <paramref name="methods"/> once, never repeated: they go through the pipeline without its
    /// retries, and its breakers, limiters, timeouts and fallbacks act on them as on any request. Replaces the methods
    /// given before; none restores retries for every method.
    /// </summary>
    /// <param name="methods">The methods whose requests must not be repeated.</param>
    /// <returns>This builder.</returns>
    public ResilienceHandlerBuilder DisableRetriesFor(params HttpMethod[] methods)
    {
        ArgumentNullException.ThrowIfNull(methods);
        foreach (var method in methods)
        {
            ArgumentNullException.ThrowIfNull(method, nameof(methods));
        }

        _unretriedMethods = [.. methods.Distinct()];
        return this;
    }

    /// <summary>Creates the client's handler, whenever the factory builds the client's handlers.</summary>
    internal ResilienceHandler CreateHandler(IServiceProvider services)
    {
        var provider = services.GetRequiredService<ResiliencePipelineProvider>();

        // Looked up now, as without a selection: a name no pipeline has fails the CreateClient that builds the handler.
        var single = provider.GetPipeline<HttpResponseMessage>(PipelineName);
        var name = PipelineName;
        Func<HttpRequestMessage, ResiliencePipeline<HttpResponseMessage>> pipelineOf;
        if (_keySelector is { } select)
        {
            pipelineOf = request => provider.GetPipeline<HttpResponseMessage>(
                name, select(request) ?? throw new InvalidOperationException($"The instance key selector of the resilience handler of client '{Name}' returned null."));
        }
        else if (_byAuthority)
        {
            // Kept across handler rotations: the keys are the same whatever handler asks.
            var authorities = _authorities ??= new AuthorityKeys(services.GetService<PipelineInstanceOptions>()?.MaxInstances ?? PipelineInstanceOptions.DefaultMaxInstances);
            pipelineOf = request => authorities.KeyOf(request) is { } key ? provider.GetPipeline<HttpResponseMessage>(name, key) : single;
        }
        else
        {
            pipelineOf = _ => single;
        }

        return new ResilienceHandler(pipelineOf) { UnretriedMethods = _unretriedMethods };
    }
}
