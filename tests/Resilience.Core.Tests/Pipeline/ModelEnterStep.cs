namespace Resilience.Tests.Pipeline;

/// <summary>One entry of a scripted strategy: what it returns, and whether it passes its own token inward first.</summary>
public sealed record ModelEnterStep(ModelEnter Kind, bool ReplaceToken)
{
    public override string ToString() => ReplaceToken ? $"{Kind}+token" : Kind.ToString();
}
