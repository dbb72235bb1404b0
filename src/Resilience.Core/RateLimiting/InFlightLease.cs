using System.Threading.RateLimiting;

namespace Resilience;

/// <summary>Permits held from an <see cref="InFlightLimiter"/>; disposing it releases them, once.</summary>
internal sealed class InFlightLease(InFlightLimiter limiter, int permitCount) : RateLimitLease
{
    private int _released;

    public override bool IsAcquired => true;

    public override IEnumerable<string> MetadataNames => [];

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        metadata = null;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            limiter.Release(permitCount);
        }
    }
}
