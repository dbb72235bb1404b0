namespace Resilience.Tests.Pipeline;

/// <summary>Whether a scripted strategy observes results (<see cref="ResilienceStrategy.ObservesResults"/>), and whether its look throws.</summary>
public enum ModelObserve
{
    None,
    Observe,
    Throw,
}
