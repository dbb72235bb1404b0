namespace Resilience.Tests.Telemetry;

/// <summary>
/// A wait the reference expects a call to rest in, and what ends it: time passing (a retry's delay, a bucket's queue),
/// or the concurrency limiter's one permit, held outside the pipeline, given back (its queue).
/// </summary>
internal readonly record struct ExpectedWait(TimeSpan Delay, bool ReleasesPermit)
{
    public static ExpectedWait Release { get; } = new(TimeSpan.Zero, ReleasesPermit: true);

    public static ExpectedWait For(TimeSpan delay) => new(delay, ReleasesPermit: false);

    public override string ToString() => ReleasesPermit ? "the held permit" : Delay.ToString();
}
