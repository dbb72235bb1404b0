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
    public void RecordSuccess() => Change(success: true);

    /// <summary>Records a failed attempt: takes one token, down to zero.</summary>
    public void RecordFailure() => Change(success: false);

    /// <summary>
    /// Records a failed attempt and tells whether it may be retried: whether the balance this failure left is more
    /// than half the capacity. One decision with the change, as gRFC A6 makes it: read afterwards, the balance may
    /// already carry other calls' failures, refusing a retry that no order of the two failures would refuse.
    /// </summary>
    internal bool RecordFailureAndCanRetry() => Change(success: false);

    /// <summary>Applies a new capacity and ratio; the balance is kept (capped at the new capacity).</summary>
    /// <param name="options">The new options; validated before anything changes.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range; nothing was changed.</exception>
    public void UpdateOptions(RetryBudgetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Volatile.Write(ref _settings, new Settings(options));

        // Caps the balance; a change that read the old settings and lands after this sees the new ones and caps again.
        Change(success: null);
    }

    /// <summary>Applies a success (+ratio), a failure (−1) or nothing (<see langword="null"/>), within [0, capacity].</summary>
    /// <returns>Whether the balance it left is more than half the capacity it applied under.</returns>
    private bool Change(bool? success)
    {
        while (true)
        {
            var settings = Volatile.Read(ref _settings);
            var balance = Volatile.Read(ref _balance);
            var delta = success is null ? 0 : success.Value ? settings.Ratio : -Scale;
            var next = Math.Clamp(balance + delta, 0, settings.Max);
            if (next != balance && Interlocked.CompareExchange(ref _balance, next, balance) != balance)
            {
                continue;
            }

            if (ReferenceEquals(Volatile.Read(ref _settings), settings))
            {
                return next > settings.Max / 2;
            }

            // The settings changed meanwhile: an update may have capped the balance before this change landed above
            // the new capacity. Cap again under the new settings (changing nothing else).
            success = null;
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
