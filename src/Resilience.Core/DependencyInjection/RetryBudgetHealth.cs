namespace Resilience.DependencyInjection;

/// <summary>A retry budget in the health view.</summary>
public sealed class RetryBudgetHealth
{
    internal RetryBudgetHealth(string name, double balance)
    {
        Name = name;
        Balance = balance;
    }

    /// <summary>Gets the budget's name.</summary>
    public string Name { get; }

    /// <summary>Gets the tokens in the budget; retries are allowed above half of its capacity.</summary>
    public double Balance { get; }
}
