namespace Resilience;

/// <summary>What a running call waits for before the engine can step again.</summary>
internal enum PendingWork
{
    None,
    Entry,
    Callback,
    Delay,
    Fallback,
}
