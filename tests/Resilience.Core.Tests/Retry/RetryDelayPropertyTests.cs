using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Resilience.Tests.Retry;

public class RetryDelayPropertyTests
{
    private static readonly TimeSpan?[] Hints = [null, null, null, TimeSpan.FromSeconds(-3), TimeSpan.Zero, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10)];

    /// <summary>
    /// For any options and any sequence of failures (some with retry-after hints) ending in a success: the retries stop
    /// where the documented rules say, every delay is the documented one (exact without jitter, within the documented
    /// bounds with it, capped; a hint in its place up to the cap, a negative one as zero, a longer one ending the
    /// retries), and the synchronous and asynchronous forms make the same attempts with the same delays.
    /// </summary>
    [Property(MaxTest = 300, Replay = "(314159265,271828183)")]
    public Property Delays_follow_the_documented_formula_and_sync_and_async_forms_agree(int seed)
    {
        var random = new Random(seed);
        var delay = TimeSpan.FromMilliseconds(new[] { 0, 1, 10, 100, 1000 }[random.Next(5)]);
        var options = new RetryOptions
        {
            Backoff = (RetryBackoff)random.Next(3),
            UseJitter = random.Next(2) == 0,
            JitterSeed = random.Next(),
            Delay = delay,
            MaxDelay = delay * new[] { 1, 2, 5, 30 }[random.Next(4)],
            MaxRetryAttempts = random.Next(9),
            MaxRetryAfter = TimeSpan.FromSeconds(new[] { 0, 1, 5 }[random.Next(3)]),
        };
        var script = Enumerable.Range(0, 10).Select(_ => random.Next(6) == 0 ? (Fails: false, Hint: (TimeSpan?)null) : (Fails: true, Hint: Hints[random.Next(Hints.Length)])).ToArray();

        var syncTime = new ImmediateTimeProvider();
        var syncAttempts = 0;
        var syncOutcome = new ResiliencePipelineBuilder { TimeProvider = syncTime }.AddRetry(options.Clone()).Build()
            .ExecuteOutcome((_, _) => Attempt(script, syncAttempts++), 0);

        var asyncTime = new ImmediateTimeProvider();
        var asyncAttempts = 0;
        var asyncOutcome = new ResiliencePipelineBuilder { TimeProvider = asyncTime }.AddRetry(options.Clone()).Build()
            .ExecuteOutcomeAsync(
                async (_, _) =>
                {
                    await Task.Yield();
                    return Attempt(script, asyncAttempts++);
                },
                0)
            .AsTask().GetAwaiter().GetResult();

        var failures = new List<string>();
        CheckAgainstModel(options, script, syncAttempts, syncTime.Delays, failures);
        if (asyncAttempts != syncAttempts || !asyncTime.Delays.SequenceEqual(syncTime.Delays) || asyncOutcome.Result != syncOutcome.Result
            || asyncOutcome.Exception?.GetType() != syncOutcome.Exception?.GetType())
        {
            failures.Add($"async made {asyncAttempts} attempts [{string.Join(", ", asyncTime.Delays)}] ending {asyncOutcome}; sync {syncAttempts} ending {syncOutcome}");
        }

        return (failures.Count == 0).Label(
            $"{options.Backoff}, jitter {options.UseJitter}, delay {options.Delay}, cap {options.MaxDelay}, retries {options.MaxRetryAttempts}, hint cap {options.MaxRetryAfter}; "
            + $"script [{string.Join(", ", script.Select(s => s.Fails ? s.Hint?.ToString() ?? "fail" : "ok"))}]; delays [{string.Join(", ", syncTime.Delays)}]: {string.Join("; ", failures)}");
    }

    private static int Attempt((bool Fails, TimeSpan? Hint)[] script, int attempt)
    {
        var (fails, hint) = script[Math.Min(attempt, script.Length - 1)];
        if (!fails)
        {
            return attempt;
        }

        throw hint is null ? new IOException($"attempt {attempt}") : new ResilienceException($"attempt {attempt}", null, null, hint);
    }

    private static TimeSpan WholeMilliseconds(TimeSpan delay) => TimeSpan.FromMilliseconds(Math.Ceiling(delay.TotalMilliseconds));

    private static void CheckAgainstModel(RetryOptions options, (bool Fails, TimeSpan? Hint)[] script, int attempts, List<TimeSpan> recorded, List<string> failures)
    {
        // Waits of zero start no timer: only the positive delays are recorded.
        var waited = new Queue<TimeSpan>(recorded);
        var previous = options.Delay;
        var expectedAttempts = 0;
        for (var attempt = 0; ; attempt++)
        {
            expectedAttempts++;
            var (fails, hint) = script[Math.Min(attempt, script.Length - 1)];
            if (!fails || attempt >= options.MaxRetryAttempts || hint > options.MaxRetryAfter)
            {
                break;
            }

            var retry = attempt + 1;
            TimeSpan low, high;
            if (hint is { } h)
            {
                low = high = h > TimeSpan.Zero ? h : TimeSpan.Zero;
            }
            else if (!options.UseJitter)
            {
                low = high = RetryStrategy.BackoffDelay(options, retry);
            }
            else if (options.Backoff == RetryBackoff.Exponential)
            {
                low = options.Delay;
                high = TimeSpan.FromTicks(Math.Min(Math.Max(options.Delay.Ticks, 3 * previous.Ticks), options.MaxDelay.Ticks));
            }
            else
            {
                var own = RetryStrategy.BackoffDelay(options, retry);
                low = own * 0.75;
                high = TimeSpan.FromTicks(Math.Min((own * 1.25).Ticks, options.MaxDelay.Ticks));
            }

            // Timers wait whole milliseconds: a delay is waited rounded up to one, never cut short.
            var actual = high == TimeSpan.Zero ? TimeSpan.Zero : waited.Count > 0 ? waited.Dequeue() : TimeSpan.MinValue;
            (low, high) = (WholeMilliseconds(low), WholeMilliseconds(high));
            if (actual < low || actual > high)
            {
                failures.Add($"retry {retry} waited {actual}, not in [{low}, {high}]");
                return;
            }

            previous = actual;
        }

        if (attempts != expectedAttempts || waited.Count != 0)
        {
            failures.Add($"{attempts} attempts, {expectedAttempts} expected; {waited.Count} delays unaccounted for");
        }
    }
}
