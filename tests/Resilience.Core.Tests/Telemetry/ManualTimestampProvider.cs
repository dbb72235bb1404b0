namespace Resilience.Tests.Telemetry;

/// <summary>A clock whose timestamps (ticks of 100 ns) start at zero and move only when a test sets them.</summary>
internal sealed class ManualTimestampProvider : TimeProvider
{
    public long Timestamp { get; set; }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Timestamp;
}
