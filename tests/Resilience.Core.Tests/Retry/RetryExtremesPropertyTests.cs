using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Resilience.Tests.Retry;

/// <summary>The retry at the edges of every option validation accepts, with hints from <see cref="TimeSpan.MinValue"/> to <see cref="TimeSpan.MaxValue"/>.</summary>
public class RetryExtremesPropertyTests
{
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    private static readonly TimeSpan?[] Hints =
    [
        null, null, null, TimeSpan.MinValue, TimeSpan.FromTicks(-1), TimeSpan.Zero, TimeSpan.FromTicks(1), Day, Day + TimeSpan.FromTicks(1), TimeSpan.MaxValue,
    ];

    private static T Pick<T>(Random random, params T[] values) => values[random.Next(values.Length)];

    /// <summary>
    /// For any options at the ends of their ranges and any failures with hints at theirs: the call ends with its last
    /// failure after the retries the options allow (fewer only when a hint past the cap ends them), and every wait is in
    /// [0, the cap of delays or hints], whole milliseconds, never longer than a timer takes.
    /// </summary>
    [Property(MaxTest = 200, Replay = "(1234567890,987654321)")]
    public Property Every_accepted_option_and_hint_gives_bounded_waits_and_the_allowed_retries(int seed)
    {
        var random = new Random(seed);
        var delay = Pick(random, TimeSpan.Zero, TimeSpan.FromTicks(1), TimeSpan.FromMilliseconds(1), Day);
        var options = new RetryOptions
        {
            MaxRetryAttempts = Pick(random, 0, 1, 100),
            Backoff = (RetryBackoff)random.Next(3),
            Delay = delay,
            MaxDelay = Pick(random, delay, Day),
            UseJitter = random.Next(2) == 0,
            JitterSeed = random.Next(),
            MaxRetryAfter = Pick(random, TimeSpan.Zero, TimeSpan.FromTicks(1), Day),
        };
        var hints = Enumerable.Range(0, 101).Select(_ => Pick(random, Hints)).ToArray();
        var time = new ImmediateTimeProvider();
        var attempts = 0;
        var outcome = new ResiliencePipelineBuilder { TimeProvider = time }.AddRetry(options).Build()
            .ExecuteOutcomeAsync<int, int>(
                (_, _) =>
                {
                    var hint = hints[attempts++];
                    throw hint is null ? new IOException("failed") : new ResilienceException("failed", null, null, hint);
                },
                0)
            .AsTask().WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();

        // The hint past the cap that ends the retries, if one comes before they run out.
        var expected = options.MaxRetryAttempts + 1;
        for (var i = 0; i < options.MaxRetryAttempts; i++)
        {
            if (hints[i] is { } hint && hint > options.MaxRetryAfter)
            {
                expected = i + 1;
                break;
            }
        }

        var cap = options.MaxDelay > options.MaxRetryAfter ? options.MaxDelay : options.MaxRetryAfter;
        var longest = TimeSpan.FromMilliseconds(Math.Ceiling(cap.TotalMilliseconds));
        var waits = time.Delays;
        var failures = new List<string>();
        if (outcome.Exception is not (IOException or ResilienceException) || attempts != expected)
        {
            failures.Add($"{attempts} attempts (expected {expected}) ending {outcome}");
        }

        if (waits.Any(wait => wait <= TimeSpan.Zero || wait > longest || wait.Ticks % TimeSpan.TicksPerMillisecond != 0))
        {
            failures.Add($"waits outside (0, {longest}]: {string.Join(", ", waits.Where(wait => wait <= TimeSpan.Zero || wait > longest).Take(5))}");
        }

        return (failures.Count == 0).Label(
            $"{options.Backoff}, jitter {options.UseJitter}, delay {options.Delay}, cap {options.MaxDelay}, retries {options.MaxRetryAttempts}, hint cap {options.MaxRetryAfter}: {string.Join("; ", failures)}");
    }
}
