namespace Resilience;

/// <summary>The state of a call made through an overload that takes no state.</summary>
internal readonly struct NoState
{
}
