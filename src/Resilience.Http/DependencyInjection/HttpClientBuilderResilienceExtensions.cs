using System.Globalization;
using Resilience;
using Resilience.DependencyInjection;
using Resilience.Http;

// In the namespace of AddHttpClient and of AddResiliencePipeline, as Microsoft's own builder extensions are: found with
// no using of ours, next to the calls they follow. Microsoft.Extensions.Http.Resilience's AddResilienceHandler lives
// there too (its class is named ResilienceHttpClientBuilderExtensions, hence this name): with both packages referenced, a
// lambda whose body binds for either builder is ambiguous, whatever namespace this class had, since both are imported.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Attaches a <see cref="ResilienceHandler"/> to a client of <c>IHttpClientFactory</c>, over a pipeline of the container.</summary>
public static class HttpClientBuilderResilienceExtensions
{
    // The standard pipeline's sections under Resilience:Pipelines:{name}: two timeouts, so each has a name of its own.
    private const string RateLimiterSection = "ConcurrencyLimiter";
    private const string TotalTimeoutSection = "TotalTimeout";
    private const string RetrySection = "Retry";
    private const string CircuitBreakerSection = "CircuitBreaker";
    private const string AttemptTimeoutSection = "AttemptTimeout";

    /// <summary>
    /// Adds a <see cref="ResilienceHandler"/> to the client's handlers, sending every request through the pipeline that
    /// <see cref="ResiliencePipelineProvider.GetPipeline{T}(string)"/> serves for <paramref name="pipelineName"/>: one
    /// registered with <c>AddResiliencePipeline&lt;HttpResponseMessage&gt;</c> or declared in configuration.
    /// </summary>
    /// <remarks>
    /// The pipeline is looked up whenever the factory builds the client's handlers (at its first <c>CreateClient</c>, and
    /// after each handler rotation): a name that no pipeline has fails that <c>CreateClient</c> with the provider's
    /// <see cref="KeyNotFoundException"/>, which names it. The pipeline is the container's single instance, so its
    /// breakers and limiters keep their state across handler rotations, and a configuration reload reaches handlers
    /// already built. Adds the resilience services (<c>AddResilience()</c>) if they are not there yet. To send each
    /// request through an instance of the pipeline per host (one breaker per host), follow with
    /// <see cref="ResilienceHandlerBuilder.SelectPipelineByAuthority"/>.
    /// </remarks>
    /// <param name="builder">The client's builder, from <c>AddHttpClient</c>.</param>
    /// <param name="pipelineName">The pipeline's name; case-insensitive, as configuration keys are.</param>
    /// <returns>The client's builder, which also selects an instance of the pipeline per request.</returns>
    public static ResilienceHandlerBuilder AddResilienceHandler(this IHttpClientBuilder builder, string pipelineName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(pipelineName);
        builder.Services.AddResilience();
        var handler = new ResilienceHandlerBuilder(builder, pipelineName);
        builder.AddHttpMessageHandler(handler.CreateHandler);
        return handler;
    }

    /// <summary>
    /// Registers a pipeline of <see cref="HttpResponseMessage"/> named <paramref name="pipelineName"/>, as
    /// <c>services.AddResiliencePipeline&lt;HttpResponseMessage&gt;(pipelineName, configure)</c> does, and adds a
    /// <see cref="ResilienceHandler"/> over it to the client's handlers (see <see cref="AddResilienceHandler(IHttpClientBuilder, string)"/>).
    /// </summary>
    /// <param name="builder">The client's builder, from <c>AddHttpClient</c>.</param>
    /// <param name="pipelineName">The pipeline's name; case-insensitive, as configuration keys are.</param>
    /// <param name="configure">Adds the strategies; runs when the provider is created, and again for each instance a selection creates.</param>
    /// <returns>The client's builder, which also selects an instance of the pipeline per request.</returns>
    /// <exception cref="ArgumentException">A pipeline of that name (ignoring case) is already registered.</exception>
    public static ResilienceHandlerBuilder AddResilienceHandler(
        this IHttpClientBuilder builder, string pipelineName, Action<ResiliencePipelineBuilder<HttpResponseMessage>, ResiliencePipelineContext> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddResiliencePipeline(pipelineName, configure);
        return builder.AddResilienceHandler(pipelineName);
    }

    /// <summary>
    /// Registers a pipeline of <see cref="HttpResponseMessage"/> named <paramref name="pipelineName"/> with the standard
    /// strategies for HTTP, as <see cref="AddResilienceHandler(IHttpClientBuilder, string, Action{ResiliencePipelineBuilder{HttpResponseMessage}, ResiliencePipelineContext})"/>
    /// does, and adds a <see cref="ResilienceHandler"/> over it to the client's handlers. Outermost first: a concurrency
    /// limiter (section <c>ConcurrencyLimiter</c>), a total request timeout (<c>TotalTimeout</c>), a retry (<c>Retry</c>),
    /// a circuit breaker (<c>CircuitBreaker</c>) and an attempt timeout (<c>AttemptTimeout</c>), with the values of
    /// <see cref="HttpStandardResilienceOptions"/>.
    /// </summary>
    /// <remarks>
    /// Each strategy is bound to its section under <c>Resilience:Pipelines:{pipelineName}</c>: the standard values, then
    /// <paramref name="configure"/>'s, then the section's keys, read again on every reload (the breaker and the limiter
    /// keep their state). The retry and the breaker judge outcomes with <see cref="HttpOutcomes.IsTransientFailure"/>
    /// (5xx, 408, 429, exceptions, attempt timeouts), and a retry waits as long as a 429's or 503's <c>Retry-After</c>
    /// asks (<see cref="HttpOutcomes.RetryAfterOf(Outcome{HttpResponseMessage}, TimeProvider)"/> on the container's clock).
    /// The breaker's <c>SamplingDuration</c> must be at least twice the attempt timeout, the total timeout no shorter
    /// than the attempt timeout, and the retries' delays (<see cref="RetryStrategy.TotalBackoffDelay"/>, without jitter)
    /// shorter in total than the total timeout: checked with the other settings when the provider is created and on every
    /// reload, which such a change fails. Follow with <see cref="ResilienceHandlerBuilder.SelectPipelineByAuthority"/> for the five
    /// per host: each host's instance has its own limiter and breaker, on the same settings, reloaded together.
    /// </remarks>
    /// <param name="builder">The client's builder, from <c>AddHttpClient</c>.</param>
    /// <param name="pipelineName">The pipeline's name; case-insensitive, as configuration keys are.</param>
    /// <param name="configure">Changes the standard values in code; configuration overlays them.</param>
    /// <returns>The client's builder, which also selects an instance of the pipeline per request.</returns>
    /// <exception cref="ArgumentException">A pipeline of that name (ignoring case) is already registered.</exception>
    public static ResilienceHandlerBuilder AddStandardResilienceHandler(this IHttpClientBuilder builder, string pipelineName, Action<HttpStandardResilienceOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddResilienceHandler(pipelineName, (pipeline, context) =>
        {
            // The container's clock, so that a Retry-After date and the retry's delay are read on the same one.
            var timeProvider = context.TimeProvider;
            pipeline.RetryAfterHint = outcome => HttpOutcomes.RetryAfterOf(outcome, timeProvider);
            pipeline
                .AddRateLimiter(context.BindConcurrencyLimiter(RateLimiterSection, o => HttpStandardResilienceOptions.Apply(configure, rateLimiter: o)), name: RateLimiterSection)
                .AddStrategy(context.BindTimeout(TotalTimeoutSection, o => HttpStandardResilienceOptions.Apply(configure, totalRequestTimeout: o)))
                .AddStrategy(context.BindRetry(RetrySection, o => HttpStandardResilienceOptions.Apply(configure, retry: o)), HttpOutcomes.IsTransientFailure)
                .AddCircuitBreaker(context.BindCircuitBreaker(CircuitBreakerSection, o => HttpStandardResilienceOptions.Apply(configure, circuitBreaker: o)), HttpOutcomes.IsTransientFailure)
                .AddStrategy(context.BindTimeout(AttemptTimeoutSection, o => HttpStandardResilienceOptions.Apply(configure, attemptTimeout: o)));

            var path = context.SectionPath;
            context.AddCheck<CircuitBreakerOptions, TimeoutOptions>(CircuitBreakerSection, AttemptTimeoutSection, (breaker, attempt) =>
                breaker.SamplingDuration >= attempt.Timeout * 2
                    ? null
                    : $"{path}:{CircuitBreakerSection}:SamplingDuration must be at least twice {path}:{AttemptTimeoutSection}:Timeout ({Show(attempt.Timeout * 2)}), so that the breaker's window holds several attempts; was {Show(breaker.SamplingDuration)}.");
            context.AddCheck<TimeoutOptions, TimeoutOptions>(TotalTimeoutSection, AttemptTimeoutSection, (total, attempt) =>
                total.Timeout >= attempt.Timeout
                    ? null
                    : $"{path}:{TotalTimeoutSection}:Timeout must be at least {path}:{AttemptTimeoutSection}:Timeout ({Show(attempt.Timeout)}), or no attempt could run its course; was {Show(total.Timeout)}.");
            context.AddCheck<RetryOptions, TimeoutOptions>(RetrySection, TotalTimeoutSection, (retry, total) =>
                RetryStrategy.TotalBackoffDelay(retry) is var delays && delays < total.Timeout
                    ? null
                    : $"{path}:{RetrySection}:MaxRetryAttempts, Delay and MaxDelay ({retry.MaxRetryAttempts}, {Show(retry.Delay)}, {Show(retry.MaxDelay)}) give delays adding up to {Show(delays)} without jitter; they must add up to less than {path}:{TotalTimeoutSection}:Timeout ({Show(total.Timeout)}), or the total timeout would end every failing request before its last retry.");
        });

        static string Show(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);
    }
}
