namespace Resilience.Demo;

/// <summary>
/// An in-process stand-in for a remote dependency that is healthy, then failing and slow, then recovering.
/// Seeded, so a run is repeatable; its phase follows the fraction of the scenario that has elapsed.
/// </summary>
internal sealed class SimulatedDependency(int seed, TimeSpan duration, TimeProvider time)
{
    private readonly long _start = time.GetTimestamp();
    private readonly ThreadLocal<Random> _random = new(() => new Random(seed ^ Environment.CurrentManagedThreadId));

    public DependencyPhase Phase
    {
        get
        {
            var progress = time.GetElapsedTime(_start) / duration;
            return progress < 0.35 ? DependencyPhase.Healthy : progress < 0.65 ? DependencyPhase.Failing : DependencyPhase.Recovering;
        }
    }

    /// <summary>Answers one request: a short delay, then a result or a failure depending on the phase.</summary>
    public async ValueTask<string> CallAsync(int request, CancellationToken cancellationToken)
    {
        var phase = Phase;
        var random = _random.Value!;
        var (failureRate, latencyMs) = phase switch
        {
            DependencyPhase.Healthy => (0.02, 2),
            DependencyPhase.Failing => (0.7, 50),
            _ => (0.05, 3),
        };

        await Task.Delay(TimeSpan.FromMilliseconds(latencyMs * (0.5 + (2 * random.NextDouble()))), time, cancellationToken).ConfigureAwait(false);
        if (random.NextDouble() < failureRate)
        {
            throw new HttpRequestException($"dependency failed request {request} ({phase})");
        }

        return $"order-{request}";
    }
}
