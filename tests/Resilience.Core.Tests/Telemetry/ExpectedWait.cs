namespace Resilience.Tests.Telemetry;

/// <summary>
/// A wait the reference expects a call to rest in, and what ends it: time passing (a retry's delay, a bucket's queue),
/// or the concurrency limiter's one permit, held outside the pipeline, given back (its queue); <see cref="Queue"/>
/// names the limiter whose queue the call waits in, if any.
/// </summary>
internal readonly record struct ExpectedWait(TimeSpan Delay, bool ReleasesPermit, string? Queue)
{
    public static ExpectedWait Release { get; } = new(TimeSpan.Zero, ReleasesPermit: true, TelemetryModel.InFlightName);

    public static ExpectedWait For(TimeSpan delay) => new(delay, ReleasesPermit: false, Queue: null);

    public static ExpectedWait InQueue(TimeSpan delay, string limiter) => new(delay, ReleasesPermit: false, limiter);

    public override string ToString() => ReleasesPermit ? "the held permit" : Queue is null ? Delay.ToString() : $"{Delay} in {Queue}'s queue";
}
