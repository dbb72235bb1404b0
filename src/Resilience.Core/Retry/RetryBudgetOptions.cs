using Resilience.Options;

namespace Resilience;

/// <summary>Options of a <see cref="RetryBudget"/>, as in gRPC's retry throttling.</summary>
public sealed class RetryBudgetOptions
{
    /// <summary>Gets or sets the budget's capacity in tokens; it starts full. Range [1, 1000]; default 10.</summary>
    public int MaxTokens { get; set; } = 10;

    /// <summary>
    /// Gets or sets the tokens a success gives back (a failure takes one). Range [0.001, 1], three decimals (the balance is
    /// kept in thousandths of a token); default 0.1.
    /// </summary>
    public double TokenRatio { get; set; } = 0.1;

    /// <summary>Checks every option; throws naming each one out of its range (one per line when there are several).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public void Validate()
    {
        var failures = new List<ArgumentOutOfRangeException>();
        OptionCheck.InRange(MaxTokens, 1, 1000, $"{nameof(RetryBudgetOptions)}.{nameof(MaxTokens)}", failures);

        // A ratio below a thousandth would be kept as zero: successes would give nothing back, and a budget once below half
        // would refuse every retry for good.
        OptionCheck.Between(TokenRatio, 0.001, 1, $"{nameof(RetryBudgetOptions)}.{nameof(TokenRatio)}", failures);
        OptionCheck.ThrowIfAny(failures);
    }
}
