namespace Resilience.Configuration;

/// <summary>A component as the settings being read want it: its kind, checked options and, for a retry, its budget's key.</summary>
/// <param name="Kind">The kind.</param>
/// <param name="Key">The component's key, relative to the resilience section (<c>Pipelines:orders:CircuitBreaker</c>).</param>
/// <param name="Name">The instance's name in telemetry, exceptions and the health view.</param>
/// <param name="Options">The options, prepared and checked.</param>
/// <param name="BudgetKey">For a retry that refers to a shared budget: the budget's key.</param>
internal sealed record PlannedComponent(ComponentKind Kind, string Key, string Name, object Options, string? BudgetKey);
