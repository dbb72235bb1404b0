using Resilience.Telemetry;

namespace Resilience;

/// <summary>Builds a <see cref="ResiliencePipeline{T}"/>, whose strategies can judge results as well as exceptions.</summary>
/// <typeparam name="T">The result type of the calls the pipeline runs.</typeparam>
public sealed class ResiliencePipelineBuilder<T> : ResiliencePipelineBuilderBase
{
    /// <summary>Adds a strategy whose outcomes are judged by <paramref name="shouldHandle"/>.</summary>
    /// <param name="strategy">The strategy; the same instance may serve several pipelines.</param>
    /// <param name="shouldHandle">Which outcomes (results or exceptions) count as failures for this strategy. Caller cancellation never does.</param>
    /// <returns>This builder.</returns>
    public ResiliencePipelineBuilder<T> AddStrategy(ResilienceStrategy strategy, Func<Outcome<T>, bool> shouldHandle)
    {
        ArgumentNullException.ThrowIfNull(shouldHandle);
        AddComponent(strategy, shouldHandle);
        return this;
    }

    /// <summary>
    /// Gets or sets how to read the retry-after hint a handled failure carries (an HTTP <c>Retry-After</c> header on a 503
    /// result, for example). Strategies see it as <see cref="ExitOutcome.RetryAfter"/>: a retry waits that long instead
    /// of its own delay. <see langword="null"/> (default): only rejections and <see cref="ResilienceException.RetryAfter"/> give hints.
    /// </summary>
    public Func<Outcome<T>, TimeSpan?>? RetryAfterHint
    {
        get => (Func<Outcome<T>, TimeSpan?>?)RetryAfterReader;
        set => RetryAfterReader = value;
    }

    /// <summary>Builds an immutable, thread-safe pipeline.</summary>
    /// <returns>The pipeline.</returns>
    public ResiliencePipeline<T> Build() => new(BuildCore(typedPredicates: true, JudgeForTelemetry));

    /// <summary>
    /// The telemetry strategy's predicate: the outermost strategy's that has one, for results only (an exception is a
    /// failure to it anyway), so that a result the strategies called a failure and passed on (a last retry's error
    /// response) is counted as one. A throw is logged and the result counted as a success: judging for telemetry must not
    /// change the call's outcome.
    /// </summary>
    private static Delegate JudgeForTelemetry(Delegate outermost, TelemetryStrategy telemetry)
    {
        var predicate = (Func<Outcome<T>, bool>)outermost;
        return (Func<Outcome<T>, bool>)(outcome =>
        {
            if (!outcome.IsSuccess)
            {
                return false;
            }

            try
            {
                return predicate(outcome);
            }
            catch (Exception exception)
            {
                telemetry.ReportJudgementFailed(exception);
                return false;
            }
        });
    }
}
