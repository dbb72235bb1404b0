using Resilience.Options;

namespace Resilience;

/// <summary>Options of a <see cref="RetryStrategy"/>.</summary>
public sealed class RetryOptions
{
    /// <summary>
    /// Gets or sets the strategy's name in telemetry and health reports; <see langword="null"/> (default) for the type
    /// name. A retry configured in a pipeline's section is named after it. The name is fixed when the strategy is
    /// created: <see cref="RetryStrategy.UpdateOptions"/> ignores it.
    /// </summary>
    public string? Name { get; set; }

    /// <summary>Gets or sets how many times a failed attempt is retried. Range [0, 100]; default 3.</summary>
    public int MaxRetryAttempts { get; set; } = 3;

    /// <summary>Gets or sets how delays grow. Default <see cref="RetryBackoff.Exponential"/>.</summary>
    public RetryBackoff Backoff { get; set; } = RetryBackoff.Exponential;

    /// <summary>Gets or sets the base delay. Range [0, 1 day]; default 200 ms.</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Gets or sets the cap on any single delay but a retry-after hint, which <see cref="MaxRetryAfter"/> bounds. Range [<see cref="Delay"/>, 1 day]; default 30 s.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Gets or sets whether delays are spread, so that clients that failed together do not retry together: an
    /// exponential backoff with decorrelated jitter (each delay drawn between the base delay and three times the previous
    /// one), a constant or linear one by ±25% around its own delay; capped either way. Default <see langword="true"/>.
    /// </summary>
    public bool UseJitter { get; set; } = true;

    /// <summary>Gets or sets the seed of the jitter; <see langword="null"/> (default) for a random seed.</summary>
    public int? JitterSeed { get; set; }

    /// <summary>
    /// Gets or sets the longest retry-after hint (from a rejection, the pipeline's <c>RetryAfterHint</c> or a
    /// <see cref="ResilienceException.RetryAfter"/>) the retry waits for; a longer hint ends the retries. Range [0, 1 day]; default 30 s.
    /// </summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets whether a rejection by a rate or concurrency limiter is retried. Default <see langword="false"/>.</summary>
    public bool RetryRateLimited { get; set; }

    /// <summary>Gets or sets whether a rejection by an open circuit breaker is retried. Default <see langword="false"/>.</summary>
    public bool RetryBrokenCircuit { get; set; }

    /// <summary>Gets or sets the retry budget shared with other retries; <see langword="null"/> (default) for none.</summary>
    public RetryBudget? Budget { get; set; }

    /// <summary>
    /// Gets or sets what chooses the delay before each retry instead of the computed one; <see langword="null"/> (default)
    /// for none. It returns <see langword="null"/> to keep the computed delay; a delay it returns is clamped to [0,
    /// <see cref="MaxDelay"/>], or to [0, the longer of <see cref="MaxDelay"/> and <see cref="MaxRetryAfter"/>] when the
    /// failure carried a retry-after hint. Called only for a retry the strategy makes, before <see cref="OnRetry"/>; an
    /// exception it throws makes no retry and becomes the call's outcome. Code only: configuration cannot set it.
    /// </summary>
    public Func<RetryDelayArguments, TimeSpan?>? DelayGenerator { get; set; }

    /// <summary>
    /// Gets or sets what is told of each retry the strategy makes, before its delay starts; <see langword="null"/>
    /// (default) for nothing. Never called when no retry is made (a success, attempts spent, a refusal by the budget, the
    /// caller's cancellation, a hint too long). An exception it throws makes no retry and becomes the call's outcome.
    /// Code only: configuration cannot set it.
    /// </summary>
    public Action<RetryScheduled>? OnRetry { get; set; }

    /// <summary>Checks every option; throws naming each one out of its range (one per line when there are several).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public void Validate()
    {
        const string Type = nameof(RetryOptions);
        var failures = new List<ArgumentOutOfRangeException>();
        OptionCheck.InRange(MaxRetryAttempts, 0, 100, $"{Type}.{nameof(MaxRetryAttempts)}", failures);
        OptionCheck.InRange((int)Backoff, 0, 2, $"{Type}.{nameof(Backoff)}", failures);

        // MaxDelay is checked against Delay only when Delay is valid: a wrong Delay is reported once.
        var delay = OptionCheck.InRange(Delay, TimeSpan.Zero, TimeSpan.FromDays(1), $"{Type}.{nameof(Delay)}", failures) ? Delay : TimeSpan.Zero;
        OptionCheck.InRange(MaxDelay, delay, TimeSpan.FromDays(1), $"{Type}.{nameof(MaxDelay)}", failures);
        OptionCheck.InRange(MaxRetryAfter, TimeSpan.Zero, TimeSpan.FromDays(1), $"{Type}.{nameof(MaxRetryAfter)}", failures);
        OptionCheck.ThrowIfAny(failures);
    }

    /// <summary>Creates a copy (the budget instance and the delegates are shared, not copied).</summary>
    /// <returns>The copy.</returns>
    public RetryOptions Clone() => (RetryOptions)MemberwiseClone();
}
