namespace Resilience.Tests.Configuration.Fuzzing;

/// <summary>
/// Texts for each option configuration can set, by kind: some inside the option's documented range (or forms of it that
/// read the same: padding, case, hexadecimal), some outside it or not converting at all. Valid values are chosen so that
/// any mix of them is valid together (a delay never above the smallest valid maximum delay, and so on).
/// </summary>
internal static class OptionSamples
{
    private static readonly string[] Ratio = ["0.5", "1", "0.01", " 0.25 ", "5E-1"];
    private static readonly string[] BadRatio = ["0", "1.5", "-0.1", "NaN", "Infinity", "-Infinity", "0,5", "abc", "", "1e400", "∞"];
    private static readonly string[] BadDuration = ["5s", "5", "-00:00:01", "", "NaN", "99999999.00:00:00", "00:00:00", "1.00:00:01", "{}"];
    private static readonly string[] BadWhole = ["-1", "99999999999", "1.5", "", "abc", "NaN", "1e3"];

    public static IReadOnlyDictionary<string, (string Option, string[] Valid, string[] Invalid)[]> ByKind { get; } = new Dictionary<string, (string, string[], string[])[]>
    {
        ["CircuitBreaker"] =
        [
            ("FailureRatio", Ratio, BadRatio),
            ("MinimumThroughput", ["1", "20", "2147483647", "0x10", " 7 ", "+3"], ["0", .. BadWhole]),
            ("SamplingDuration", ["00:00:10", "00:01:00", "1.00:00:00", "00:00:01"], BadDuration),
            ("BucketCount", ["1", "10", "1000"], ["0", "1001", .. BadWhole]),
            ("SlowCallDuration", ["00:00:02", "00:00:00.001", ""], ["00:00:00", "5s", "2.00:00:00"]),
            ("SlowCallRatio", Ratio, BadRatio),
            ("ConsecutiveFailures", ["0", "3", "2147483647"], ["-1", "2147483648", "x"]),
            ("BreakDuration", ["00:00:05", "00:00:00.001", "00:05:00"], BadDuration),
            ("BreakDurationMultiplier", ["1", "2.5", "100"], ["0.5", "101", "NaN", "Infinity", "x"]),
            ("MaxBreakDuration", ["00:05:00", "1.00:00:00"], ["1.00:00:01", "-1.00:00:00", "00:00:00", "5m"]),
            ("BreakDurationJitter", ["0", "0.5", "0.99"], ["1", "-0.1", "NaN", "-Infinity"]),
            ("PermittedProbes", ["1", "3", "10000"], ["0", "10001", "-3"]),
            ("ProbeSuccessRatio", Ratio, BadRatio),
            ("ProbeTimeout", ["00:00:01", ""], ["00:00:00", "1", "1.00:00:01"]),
            ("JitterSeed", ["1", "-5", "", "2147483647"], ["x", "2147483648", "1.5"]),
        ],
        ["TokenBucket"] =
        [
            ("PermitsPerSecond", ["1", "200", "0.5", "1000000000", " 10 "], ["0", "-1", "1e10", "NaN", "Infinity", "", "1,5"]),
            ("Burst", ["1", "50", "1000000"], ["0", "1000000001", "-1", "", "2.5"]),
            ("MaxWait", ["00:00:00", "00:00:01", "1.00:00:00"], ["-00:00:01", "2.00:00:00", "1", ""]),
        ],
        ["ConcurrencyLimiter"] =
        [
            ("PermitLimit", ["1", "32", "2147483647"], ["0", "-1", "", "2147483648"]),
            ("QueueLimit", ["0", "64"], ["-1", "x", ""]),
            ("QueueProcessingOrder", ["OldestFirst", "newestfirst", "0", "1", " NEWESTFIRST "], ["2", "Fast", "-1", ""]),
            ("QueueTimeout", ["00:00:02", ""], ["00:00:00", "5", "2.00:00:00"]),
        ],
        ["Timeout"] =
        [
            ("Timeout", ["00:00:10", "00:00:00.001", "1.00:00:00", " 00:00:03 "], ["00:00:00", "5s", "10", "", "1.00:00:00.0000001"]),
        ],
        ["Retry"] =
        [
            ("MaxRetryAttempts", ["0", "3", "100"], ["101", "-1", "99999999999", ""]),
            ("Backoff", ["Constant", "linear", "EXPONENTIAL", "0", "2"], ["3", "Fast", "-1", ""]),
            ("Delay", ["00:00:00", "00:00:00.200", "00:00:30"], ["-00:00:01", "2.00:00:00", "200ms", ""]),
            ("MaxDelay", ["00:00:30", "00:01:00", "1.00:00:00"], ["1.00:00:01", "-00:00:01", "30"]),
            ("UseJitter", ["true", "False", " TRUE "], ["yes", "1", ""]),
            ("JitterSeed", ["7", ""], ["seven"]),
            ("MaxRetryAfter", ["00:00:00", "00:00:30"], ["-00:00:01", "2.00:00:00"]),
            ("RetryRateLimited", ["true", "false"], ["on"]),
            ("RetryBrokenCircuit", ["true", "false"], ["0"]),
        ],
        ["RetryBudget"] =
        [
            ("MaxTokens", ["1", "10", "1000"], ["0", "1001", "-1", ""]),
            ("TokenRatio", ["0.1", "1", "0.001"], ["0", "2", "NaN", "0.0009", ""]),
        ],
    };
}
