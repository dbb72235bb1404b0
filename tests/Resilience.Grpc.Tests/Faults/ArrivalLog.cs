using System.Collections.Concurrent;
using Grpc.Core;

namespace Resilience.Grpc.Tests.Faults;

/// <summary>The soak server's log of every call's arrival, by call id: the attempt numbers as they arrived.</summary>
internal sealed class ArrivalLog
{
    private readonly ConcurrentDictionary<int, ConcurrentQueue<int>> _arrivals = new();

    /// <summary>The attempt numbers of call <paramref name="id"/> as they arrived (0: a header missing or doubled).</summary>
    public IReadOnlyList<int> ArrivalsOf(int id) => _arrivals.TryGetValue(id, out var arrivals) ? arrivals.ToArray() : [];

    /// <summary>Every arrival.</summary>
    public int Total => _arrivals.Values.Sum(static arrivals => arrivals.Count);

    /// <summary>Logs a call's arrival.</summary>
    public void Log(ServerCallContext context)
    {
        var (plan, attempt) = GrpcCallPlan.Of(context.RequestHeaders);
        _arrivals.GetOrAdd(plan.Id, static _ => new()).Enqueue(attempt);
    }
}
