namespace Resilience;

/// <summary>How the delay between attempts grows.</summary>
public enum RetryBackoff
{
    /// <summary>Every delay is <see cref="RetryOptions.Delay"/>.</summary>
    Constant = 0,

    /// <summary>The n-th delay is n × <see cref="RetryOptions.Delay"/>.</summary>
    Linear = 1,

    /// <summary>The n-th delay is 2^(n-1) × <see cref="RetryOptions.Delay"/>.</summary>
    Exponential = 2,
}
