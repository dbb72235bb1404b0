using Resilience.Options;

namespace Resilience.DependencyInjection;

/// <summary>
/// Options of the keyed instances of a container's pipelines (<see cref="ResiliencePipelineProvider.GetPipeline(string, string)"/>):
/// set with <see cref="ResilienceBuilder.ConfigureInstances"/>.
/// </summary>
public sealed class PipelineInstanceOptions
{
    /// <summary>The default of <see cref="MaxInstances"/>.</summary>
    public const int DefaultMaxInstances = 1000;

    /// <summary>
    /// Gets or sets how many keyed instances each pipeline keeps alive at most. Range [1, 2147483647]; default 1000. When
    /// a new key arrives at the cap, the instance used least recently is dropped with its state (its breaker's window,
    /// its limiters' permits): a key that comes back gets a fresh instance. This bounds the memory and the cardinality of
    /// the <c>pipeline.instance</c> tag whatever the keys (hosts, tenants) are.
    /// </summary>
    public int MaxInstances { get; set; } = DefaultMaxInstances;

    /// <summary>Checks every option; throws naming the one out of its range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range; the message names it and the range.</exception>
    public void Validate() =>
        OptionCheck.InRange(MaxInstances, 1, int.MaxValue, $"{nameof(PipelineInstanceOptions)}.{nameof(MaxInstances)}");
}
