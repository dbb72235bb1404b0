namespace Resilience;

/// <summary>What a pipeline's view may do to a call (see <see cref="PipelineCore"/>).</summary>
internal enum CallShape
{
    /// <summary>Anything its strategies ask: the pipeline itself.</summary>
    Any,

    /// <summary>No retry: the call must not be repeated.</summary>
    WithoutRetries,

    /// <summary>No retry, no timeout, no fallback: the call is one attempt by nature (a stream).</summary>
    SingleAttempt,
}
