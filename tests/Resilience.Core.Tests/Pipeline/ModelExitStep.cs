namespace Resilience.Tests.Pipeline;

/// <summary>One exit of a scripted strategy: what it returns, and whether it replaces the token first.</summary>
public sealed record ModelExitStep(ModelExit Kind, bool ReplaceToken)
{
    public override string ToString() => ReplaceToken ? $"{Kind}+token" : Kind.ToString();
}
