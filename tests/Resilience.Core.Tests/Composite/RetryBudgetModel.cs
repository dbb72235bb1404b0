namespace Resilience.Tests.Composite;

/// <summary>The retry budget's rules (gRFC A6) in thousandths of a token: a failure takes one, a success gives the ratio back.</summary>
internal sealed class RetryBudgetModel(RetryBudgetOptions options)
{
    private long _max = options.MaxTokens * 1000L;
    private long _ratio = (long)Math.Round(options.TokenRatio * 1000);

    public long Balance { get; private set; } = options.MaxTokens * 1000L;

    /// <summary>Takes a token; returns whether the balance it left allows a retry.</summary>
    public bool Failure()
    {
        Balance = Math.Max(0, Balance - 1000);
        return Balance > _max / 2;
    }

    public bool CanRetry => Balance > _max / 2;

    public void Success() => Balance = Math.Min(_max, Balance + _ratio);

    public void Update(RetryBudgetOptions value)
    {
        _max = value.MaxTokens * 1000L;
        _ratio = (long)Math.Round(value.TokenRatio * 1000);
        Balance = Math.Min(Balance, _max);
    }
}
