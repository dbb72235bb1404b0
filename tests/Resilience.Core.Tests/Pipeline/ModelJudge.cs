namespace Resilience.Tests.Pipeline;

/// <summary>How a scripted strategy's predicate judges: the default predicate (none registered), or one of its own.</summary>
public enum ModelJudge
{
    Default,
    HandleAll,
    HandleNone,
    Throw,
}
