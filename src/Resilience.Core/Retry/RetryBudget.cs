namespace Resilience;

/// <summary>
/// A retry budget shared by every call through the retries that use it, after gRPC's retry throttling (gRFC A6): a
/// failed attempt takes a token, a success gives back <see cref="RetryBudgetOptions.TokenRatio"/>, and retries are
/// allowed only while more than half of <see cref="RetryBudgetOptions.MaxTokens"/> remain. A failing dependency
/// therefore sees at most a bounded share of retries, never the multiplied load of a retry storm.
/// </summary>
/// <remarks>The balance is one integer in thousandths of a token, changed by compare-and-swap: no lock.</remarks>
public sealed class RetryBudget
{
    private const int Scale = 1000;
    private Settings _settings;
    private long _balance;

    /// <summary>Initializes a new, full budget.</summary>
    /// <param name="options">The options; validated.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public RetryBudget(RetryBudgetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _settings = new Settings(options);
        _balance = _settings.Max;
    }

    /// <summary>Gets the balance in tokens.</summary>
    public double Balance => (double)Volatile.Read(ref _balance) / Scale;

    /// <summary>Gets whether a retry is allowed now: more than half of the capacity remains.</summary>
    public bool CanRetry => Volatile.Read(ref _balance) > Volatile.Read(ref _settings).Max / 2;

    /// <summary>Records a successful attempt: gives back the token ratio, up to the capacity.</summary>
    public void RecordSuccess()
    {
        var settings = _settings;
        Change(settings.Ratio, settings.Max);
    }

    /// <summary>Records a failed attempt: takes one token, down to zero.</summary>
    public void RecordFailure() => Change(-Scale, Volatile.Read(ref _settings).Max);

    /// <summary>Applies a new capacity and ratio; the balance is kept (capped at the new capacity).</summary>
    /// <param name="options">The new options; validated before anything changes.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range; nothing was changed.</exception>
    public void UpdateOptions(RetryBudgetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var settings = new Settings(options);
        Volatile.Write(ref _settings, settings);
        Change(0, settings.Max);
    }

    private void Change(long delta, long max)
    {
        while (true)
        {
            var balance = Volatile.Read(ref _balance);
            var next = Math.Clamp(balance + delta, 0, max);
            if (next == balance || Interlocked.CompareExchange(ref _balance, next, balance) == balance)
            {
                return;
            }
        }
    }

    private sealed class Settings
    {
        public Settings(RetryBudgetOptions options)
        {
            options.Validate();
            Max = (long)options.MaxTokens * Scale;
            Ratio = (long)Math.Round(options.TokenRatio * Scale);
        }

        public long Max { get; }

        public long Ratio { get; }
    }
}
