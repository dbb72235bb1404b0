using System.Globalization;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// What the configuration of <see cref="ReloadTelemetryModelTests"/> says about pipeline <c>orders</c> (a retry without
/// delay outermost, then a breaker that never opens and a token bucket, in either order): the options the calls can
/// tell apart, the order (a change of it rebuilds the pipeline), and the mistakes (<see cref="ReloadFault"/>) written
/// over them (an unknown type in place of the breaker's entry).
/// </summary>
internal sealed record ReloadSettings(int Attempts, int Rate, int Burst, int Throughput, bool BreakerInside, ReloadFault Faults)
{
    public const string Section = "Resilience:Pipelines:orders";

    /// <summary>The rates (permits per second) the settings choose from.</summary>
    public static readonly int[] Rates = [1, 2, 5];

    /// <summary>The bursts the settings choose from; a push may also choose 0, out of range.</summary>
    public static readonly int[] Bursts = [1, 2, 4];

    /// <summary>Reads settings from the digits of <paramref name="argument"/>: one in four carries one or two mistakes.</summary>
    public static ReloadSettings From(int argument)
    {
        var faults = ReloadFault.None;
        if (argument / 54 % 4 == 0)
        {
            faults = (ReloadFault)(1 << (argument / 216 % 6));
            if (argument / 1296 % 3 == 0)
            {
                faults |= (ReloadFault)(1 << (argument / 3888 % 5));
            }
        }

        return new ReloadSettings(argument % 3, Rates[argument / 3 % 3], Bursts[argument / 9 % 3], argument / 27 % 2 == 0 ? 500 : 1000, argument / 16200 % 2 == 1, faults);
    }

    /// <summary>Gets every key of the pipeline's section with its value, mistakes written in (none when emptied).</summary>
    public IReadOnlyList<(string Key, string? Value)> Values() => Faults.HasFlag(ReloadFault.Emptied)
        ? [.. Written().Select(v => (v.Key, (string?)null))]
        : [.. Written().Select(v => (v.Key, (string?)v.Value))];

    private IReadOnlyList<(string Key, string Value)> Written() =>
    [
        ($"{Section}:Strategies:0", "Retry"),
        ($"{Section}:Strategies:{BreakerIndex}", Faults.HasFlag(ReloadFault.UnknownStrategyType) ? "Bulkhead" : "CircuitBreaker"),
        ($"{Section}:Strategies:{3 - BreakerIndex}", "Bucket"),
        ($"{Section}:Retry:MaxRetryAttempts", Faults.HasFlag(ReloadFault.RetryAttemptsOutOfRange) ? "-1" : Text(Attempts)),
        ($"{Section}:Retry:Delay", "00:00:00"),
        ($"{Section}:Retry:UseJitter", "false"),
        ($"{Section}:Retry:RetryRateLimited", "false"),
        ($"{Section}:CircuitBreaker:FailureRatio", Faults.HasFlag(ReloadFault.FailureRatioOutOfRange) ? "1.5" : "0.5"),
        ($"{Section}:CircuitBreaker:MinimumThroughput", Text(Throughput)),
        ($"{Section}:Bucket:Type", "TokenBucket"),
        ($"{Section}:Bucket:PermitsPerSecond", Faults.HasFlag(ReloadFault.UnparsableRate) ? "fast" : Text(Rate)),
        ($"{Section}:Bucket:Burst", Faults.HasFlag(ReloadFault.BurstOutOfRange) ? "0" : Text(Burst)),
    ];

    /// <summary>Gets the index of the breaker's entry in the list of strategies.</summary>
    public int BreakerIndex => BreakerInside ? 2 : 1;

    /// <summary>Gets the text of the bucket's section, which a push for the bucket outlives only while it stays the same.</summary>
    public string BucketText => string.Join(";", Values().Where(v => v.Key.StartsWith($"{Section}:Bucket:", StringComparison.Ordinal)).Select(v => v.Value));

    public override string ToString() =>
        $"attempts {Attempts}, rate {Rate}/s, burst {Burst}, throughput {Throughput}{(BreakerInside ? ", breaker inside the bucket" : string.Empty)}{(Faults == ReloadFault.None ? string.Empty : $", faults {Faults}")}";

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
