namespace Resilience.Demo;

/// <summary>What the demo's calls ended with, counted from many workers.</summary>
internal sealed class Counters
{
    private long _succeeded;
    private long _degraded;
    private long _failed;
    private long _brokenCircuit;
    private long _limited;
    private long _timedOut;
    private long _dependencyErrors;

    public long Succeeded => Interlocked.Read(ref _succeeded);

    public long Degraded => Interlocked.Read(ref _degraded);

    public long Failed => Interlocked.Read(ref _failed);

    public long BrokenCircuit => Interlocked.Read(ref _brokenCircuit);

    public long Limited => Interlocked.Read(ref _limited);

    public long TimedOut => Interlocked.Read(ref _timedOut);

    public long DependencyErrors => Interlocked.Read(ref _dependencyErrors);

    public long Total => Succeeded + Degraded + Failed;

    /// <summary>Counts how a call ended.</summary>
    public void Count(Outcome<string> outcome)
    {
        if (!outcome.IsSuccess)
        {
            Interlocked.Increment(ref _failed);
        }
        else if (outcome.FallbackLevel is null)
        {
            Interlocked.Increment(ref _succeeded);
        }
        else
        {
            Interlocked.Increment(ref _degraded);
        }
    }

    /// <summary>Counts why the fallback had to serve.</summary>
    public void CountCause(Outcome<string> failure)
    {
        if (failure.IsRejected)
        {
            Interlocked.Increment(ref failure.Rejection.Reason == RejectionReason.BrokenCircuit ? ref _brokenCircuit : ref _limited);
        }
        else
        {
            Interlocked.Increment(ref failure.Exception is TimeoutRejectedException ? ref _timedOut : ref _dependencyErrors);
        }
    }

    public override string ToString() => $"calls {Total,6}  ok {Succeeded,6}  fallback {Degraded,6} (open {BrokenCircuit,5}, timeout {TimedOut,4}, error {DependencyErrors,4})";
}
