using System.Runtime.CompilerServices;
using Resilience.Time;

namespace Resilience;

/// <summary>
/// Runs the strategies inside it and the callback again when an attempt fails, after a delay: constant, linear or
/// exponential, jittered by default (decorrelated for an exponential backoff, ±25% for the others); a retry-after hint (<see cref="ExitOutcome.RetryAfter"/>: a limiter's or
/// breaker's rejection, or what the pipeline's <c>RetryAfterHint</c> reads from a failure, such as an HTTP
/// <c>Retry-After</c> header; or a <see cref="ResilienceException.RetryAfter"/>) replaces the computed delay up to
/// <see cref="RetryOptions.MaxRetryAfter"/>.
/// Never retries the caller's cancellation, an attempt cut short by an outer timeout, or (unless asked) a rejection.
/// With a <see cref="RetryBudget"/>, retries stop while the shared budget is at or below half.
/// </summary>
public sealed class RetryStrategy : ResilienceStrategy
{
    private const int AttemptBits = 8;
    private const long AttemptMask = (1 << AttemptBits) - 1;

    private RetrySettings _settings;

    /// <summary>Initializes a new instance.</summary>
    /// <param name="options">The options; validated and copied.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public RetryStrategy(RetryOptions options)
        : base((options ?? throw new ArgumentNullException(nameof(options))).Name)
    {
        _settings = new RetrySettings(options);
    }

    /// <inheritdoc />
    internal override bool ShapesAttempts => true;

    /// <inheritdoc />
    internal override bool RepeatsAttempts => true;

    /// <summary>Gets a copy of the options in force.</summary>
    public RetryOptions Options => Volatile.Read(ref _settings).Options.Clone();

    /// <summary>Applies new options, their hooks included (<see cref="RetryOptions.OnRetry"/>, <see cref="RetryOptions.DelayGenerator"/>), to retries decided from now on.</summary>
    /// <param name="options">The new options; validated before anything changes.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range; nothing was changed.</exception>
    public void UpdateOptions(RetryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Volatile.Write(ref _settings, new RetrySettings(options));
    }

    /// <summary>Computes the delay before retry number <paramref name="retry"/> (1 for the first) without jitter.</summary>
    /// <param name="options">The options; checked as a strategy checks them.</param>
    /// <param name="retry">The retry number, from 1.</param>
    /// <returns>The delay, capped at <see cref="RetryOptions.MaxDelay"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="retry"/> is below 1, or an option is out of its range.</exception>
    public static TimeSpan BackoffDelay(RetryOptions options, int retry)
    {
        ArgumentNullException.ThrowIfNull(options);

        // A retry number below 1 would give a negative (linear) or shrunken (exponential) delay, unvalidated options a
        // negative one.
        ArgumentOutOfRangeException.ThrowIfLessThan(retry, 1);
        options.Validate();
        return Backoff(options, retry);
    }

    /// <summary>
    /// Computes how long all the retries wait, without jitter: the sum of <see cref="BackoffDelay"/> over every retry
    /// (<see cref="RetryOptions.MaxRetryAttempts"/> of them), each capped at <see cref="RetryOptions.MaxDelay"/>. Compare
    /// it with a timeout around the retries; a <see cref="RetryOptions.DelayGenerator"/> and retry-after hints are not
    /// counted.
    /// </summary>
    /// <param name="options">The options; checked as a strategy checks them.</param>
    /// <returns>The total delay.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public static TimeSpan TotalBackoffDelay(RetryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        // At most 100 retries of at most a day each: no overflow.
        var total = TimeSpan.Zero;
        for (var retry = 1; retry <= options.MaxRetryAttempts; retry++)
        {
            total += Backoff(options, retry);
        }

        return total;
    }

    /// <summary>The delay before retry number <paramref name="retry"/> (from 1) of validated options, without jitter.</summary>
    private static TimeSpan Backoff(RetryOptions options, int retry)
    {
        var factor = options.Backoff switch
        {
            RetryBackoff.Constant => 1d,
            RetryBackoff.Linear => retry,
            // Past 2^62 any delay is above the cap; a larger power would reach infinity, and zero times that is NaN.
            _ => Math.Pow(2, Math.Min(retry - 1, 62)),
        };
        return TimeSpan.FromTicks((long)Math.Min(options.Delay.Ticks * factor, options.MaxDelay.Ticks));
    }

    /// <inheritdoc />
    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
    {
        var settings = _settings;
        var options = settings.Options;
        if (outcome.IsCallerCancelled || context.CallerCancellationToken.IsCancellationRequested)
        {
            // Nothing is retried once the caller cancelled, and a failure then is nobody's; but a result that came back
            // anyway is the dependency's success, which the budget credits as the breaker counts it.
            if (outcome.IsSuccess)
            {
                options.Budget?.RecordSuccess();
            }

            return ExitAction.Continue;
        }

        bool retryable;
        bool? budgetAllows = null;
        if (outcome.IsRejected)
        {
            retryable = outcome.Rejection.Reason switch
            {
                RejectionReason.RateLimited => options.RetryRateLimited,
                RejectionReason.BrokenCircuit => options.RetryBrokenCircuit,
                _ => false,
            };
        }
        else
        {
            retryable = outcome.IsHandled;
            if (outcome.IsHandled)
            {
                // A cancellation from outside (an outer timeout, cutting short an attempt or the wait before the next)
                // is not the dependency failing: a cancelled wait would otherwise take a second token for one failure.
                if (!(outcome.Exception is OperationCanceledException && context.CancellationToken.IsCancellationRequested)
                    && options.Budget is { } failed)
                {
                    // The failure's own change decides, as gRFC A6 does: not a later reading of the shared balance.
                    budgetAllows = failed.RecordFailureAndCanRetry();
                }
            }
            else if (outcome.IsSuccess)
            {
                options.Budget?.RecordSuccess();
            }
        }

        var attempt = (int)(context.State & AttemptMask);
        if (!retryable || attempt >= options.MaxRetryAttempts || context.CancellationToken.IsCancellationRequested)
        {
            return ExitAction.Continue;
        }

        // A hint too long to wait ends the retries whatever the budget says: checked first, so that a refusal the
        // budget reports is a retry that would otherwise have been made.
        var hint = outcome.RetryAfter ?? (outcome.Exception as ResilienceException)?.RetryAfter;
        if (hint > options.MaxRetryAfter)
        {
            return ExitAction.Continue;
        }

        if (!(budgetAllows ?? options.Budget?.CanRetry ?? true))
        {
            context.ReportRetryRefusedByBudget(this);
            return ExitAction.Continue;
        }

        TimeSpan delay;
        if (hint is { } retryAfter)
        {
            // A hint already past (a reset time minus now) means "now"; a negative delay is no delay.
            delay = retryAfter > TimeSpan.Zero ? retryAfter : TimeSpan.Zero;
        }
        else if (options.UseJitter && options.Backoff == RetryBackoff.Exponential)
        {
            // Decorrelated jitter: uniform between the base delay and three times the previous delay, capped.
            var previous = attempt == 0 ? options.Delay.Ticks : context.State >> AttemptBits;
            var upper = Math.Max(options.Delay.Ticks, 3 * previous);
            var drawn = options.Delay.Ticks + (long)(settings.Random.NextUnit() * (upper - options.Delay.Ticks));
            delay = TimeSpan.FromTicks(Math.Min(drawn, options.MaxDelay.Ticks));
        }
        else if (options.UseJitter)
        {
            // A constant or linear backoff keeps its own delay, spread uniformly by ±25% and capped: decorrelated jitter
            // grows like an exponential backoff, which is not what was asked for.
            var spread = Backoff(options, attempt + 1).Ticks * (0.75 + (0.5 * settings.Random.NextUnit()));
            delay = TimeSpan.FromTicks(Math.Min((long)spread, options.MaxDelay.Ticks));
        }
        else
        {
            delay = Backoff(options, attempt + 1);
        }

        // The jitter goes on from the delay it drew: a generator's delay does not feed the next draw.
        context.State = (delay.Ticks << AttemptBits) | (long)(attempt + 1);

        // Only a retry being made reaches here: without hooks, a retry does no more work than before.
        if (options.DelayGenerator is not null || options.OnRetry is not null)
        {
            delay = RunHooks(options, context.PipelineName, in outcome, attempt + 1, delay, hint);
        }

        return ExitAction.Retry(delay);
    }

    /// <summary>
    /// Lets <see cref="RetryOptions.DelayGenerator"/> replace the delay, then tells <see cref="RetryOptions.OnRetry"/>.
    /// An exception either throws is the engine's to take: it replaces the outcome and no retry is made.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TimeSpan RunHooks(RetryOptions options, string? pipelineName, in ExitOutcome outcome, int retry, TimeSpan delay, TimeSpan? hint)
    {
        // A rejection travels as a value: both hooks see the one exception made for it.
        var failure = outcome.IsRejected ? outcome.Rejection.ToException() : outcome.Exception;
        if (options.DelayGenerator is { } generator
            && generator(new RetryDelayArguments(pipelineName, Name, retry, failure, delay, hint)) is { } generated)
        {
            // A negative delay would fail the call in ExitAction.Retry. A hint may be waited up to MaxRetryAfter, so a
            // generator that returns the hint it was given is not cut to MaxDelay.
            var cap = hint is null || options.MaxRetryAfter < options.MaxDelay ? options.MaxDelay : options.MaxRetryAfter;
            delay = generated < TimeSpan.Zero ? TimeSpan.Zero : generated > cap ? cap : generated;
        }

        options.OnRetry?.Invoke(new RetryScheduled(pipelineName, Name, retry, delay, failure));
        return delay;
    }

    private sealed class RetrySettings
    {
        public RetrySettings(RetryOptions options)
        {
            options.Validate();
            Options = options.Clone();
            Random = new SeededRandom(options.JitterSeed);
        }

        public RetryOptions Options { get; }

        public SeededRandom Random { get; }
    }
}
