namespace Resilience.Examples;

/// <summary>
/// An in-process stand-in for a remote service. It answers, fails or is busy as the example sets it, so every run
/// prints the same story.
/// </summary>
public sealed class SimulatedDependency
{
    private int _calls;
    private int _failuresToCome;
    private TimeSpan? _busyRetryAfter;

    /// <summary>Initializes a new, healthy dependency.</summary>
    /// <param name="name">The service's name, used in its answers and errors.</param>
    public SimulatedDependency(string name)
    {
        Name = name;
    }

    /// <summary>Gets the service's name.</summary>
    public string Name { get; }

    /// <summary>Gets how many calls reached the service.</summary>
    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Gets or sets whether the service answers; while false every call fails with an <see cref="IOException"/>.</summary>
    public bool IsHealthy { get; set; } = true;

    /// <summary>Gets or sets how long each call takes; the wait ends early when the call's token is cancelled.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>Makes the next <paramref name="count"/> calls fail, then answers again.</summary>
    /// <param name="count">How many calls fail.</param>
    public void FailNext(int count) => Volatile.Write(ref _failuresToCome, count);

    /// <summary>Makes the next call fail with a <see cref="ServiceBusyException"/> asking to wait <paramref name="retryAfter"/>.</summary>
    /// <param name="retryAfter">How long the service asks callers to wait.</param>
    public void BusyNext(TimeSpan retryAfter) => _busyRetryAfter = retryAfter;

    /// <summary>Calls the service.</summary>
    /// <param name="request">What is asked for.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The answer.</returns>
    public async ValueTask<string> CallAsync(string request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        if (Latency > TimeSpan.Zero)
        {
            await Task.Delay(Latency, cancellationToken);
        }

        if (_busyRetryAfter is { } retryAfter)
        {
            _busyRetryAfter = null;
            throw new ServiceBusyException(Name, retryAfter);
        }

        if (!IsHealthy || Interlocked.Decrement(ref _failuresToCome) >= 0)
        {
            throw new IOException($"{Name} did not answer.");
        }

        return $"{request} from {Name}";
    }
}
