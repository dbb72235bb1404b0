namespace Resilience.Tests.Pipeline;

/// <summary>
/// Attaches (<paramref name="On"/>) or detaches a listener right after the line at <paramref name="AfterLine"/> of the
/// call's trace is recorded: inside the hook that recorded it, so while the call is in flight (the hook that returns a
/// pending entry, calls back into a callback that completes later, asks for a retry after a delay, or serves a fallback
/// later included). A toggle past the trace's end never happens; one that finds the listener as it asks does nothing.
/// </summary>
public sealed record ModelToggle(int AfterLine, ModelListener Listener, bool On)
{
    public override string ToString() => $"{(On ? "attach" : "detach")} {Listener} after line {AfterLine}";
}
