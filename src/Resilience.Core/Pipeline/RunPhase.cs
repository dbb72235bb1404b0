namespace Resilience;

/// <summary>Where a running call stands.</summary>
internal enum RunPhase
{
    Enter,
    Invoke,
    Exit,
}
