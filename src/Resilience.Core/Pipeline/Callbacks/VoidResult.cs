namespace Resilience;

/// <summary>The result of a callback that returns nothing.</summary>
internal readonly struct VoidResult
{
}
