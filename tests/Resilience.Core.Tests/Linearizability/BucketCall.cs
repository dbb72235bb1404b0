namespace Resilience.Tests.Linearizability;

/// <summary>A token bucket's operation: its kind and its argument (permits, or the shape an update applies).</summary>
internal readonly record struct BucketCall(BucketCallKind Kind, int Value)
{
    public override string ToString() => $"{Kind}({Value})";
}
