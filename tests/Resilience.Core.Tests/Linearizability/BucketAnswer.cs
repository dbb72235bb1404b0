namespace Resilience.Tests.Linearizability;

/// <summary>What a token bucket's operation observed: granted or not, and a figure (retry-after ticks, available permits).</summary>
internal readonly record struct BucketAnswer(bool Granted, long Value)
{
    public override string ToString() => $"{(Granted ? "granted" : "refused")} {Value}";
}
