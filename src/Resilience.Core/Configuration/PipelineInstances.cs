using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Resilience.Configuration;

/// <summary>
/// The live keyed instances of one pipeline, at most <see cref="MaxInstances"/>. The lookup of an existing instance takes
/// no lock and allocates nothing: it is on every request's path. Adding and evicting are the runtime's, under its lock.
/// </summary>
internal sealed class PipelineInstances
{
    // Keys are compared ordinally: they are the caller's (an authority, a tenant), not configuration keys.
    private readonly ConcurrentDictionary<string, PipelineInstance> _live = new(StringComparer.Ordinal);

    // The use stamps: a counter rather than a clock, so that two uses never tie and the order does not depend on time.
    private long _uses;

    // How far behind the newest stamp an instance's may fall before a lookup stamps it again (see Find). Changed with the
    // cap, under the runtime's lock; a lookup that reads the old one stamps a little early or late, nothing more.
    private long _touchSlack;

    public PipelineInstances(LivePipeline pipeline, int maxInstances)
    {
        Pipeline = pipeline;
        MaxInstances = maxInstances;
        _touchSlack = maxInstances / 2;
    }

    public LivePipeline Pipeline { get; }

    public int MaxInstances { get; private set; }

    public int Count => _live.Count;

    public ICollection<PipelineInstance> All => _live.Values;

    /// <summary>Gets the built form of an existing instance for a result type, and marks the instance used.</summary>
    public object? Find(string key, Type result)
    {
        if (_live.TryGetValue(key, out var instance) && instance.Find(result) is { } pipeline)
        {
            // Recency is kept coarsely: an instance stamped within the last half-cap of stamps keeps its stamp, so
            // clients calling a few hosts by turns write nothing shared per request (a counter every lookup increments
            // is one cache line bouncing between the cores). An instance used again before half a cap of new stamps
            // pass is still never the one evicted: the cap's distinct stamps put the oldest a cap behind the newest,
            // further back than such an instance's.
            if (Volatile.Read(ref _uses) - Volatile.Read(ref instance.LastUsed) > Volatile.Read(ref _touchSlack))
            {
                Touch(instance);
            }

            return pipeline;
        }

        return null;
    }

    public bool TryGet(string key, [NotNullWhen(true)] out PipelineInstance? instance) => _live.TryGetValue(key, out instance);

    public void Touch(PipelineInstance instance) => Volatile.Write(ref instance.LastUsed, Interlocked.Increment(ref _uses));

    /// <summary>Adds a new instance; at the cap, first removes the least recently used one and returns it.</summary>
    public PipelineInstance? Add(PipelineInstance instance)
    {
        var evicted = _live.Count >= MaxInstances ? RemoveLeastRecentlyUsed() : null;
        Touch(instance);
        _live[instance.Key] = instance;
        return evicted;
    }

    /// <summary>Changes the cap; removes and returns the least recently used instances past a lower one.</summary>
    public List<PipelineInstance> Resize(int maxInstances)
    {
        MaxInstances = maxInstances;
        Volatile.Write(ref _touchSlack, maxInstances / 2);
        var evicted = new List<PipelineInstance>();
        while (_live.Count > maxInstances)
        {
            evicted.Add(RemoveLeastRecentlyUsed());
        }

        return evicted;
    }

    // On the creation and reload paths only, under the runtime's lock: a scan of at most MaxInstances stamps.
    private PipelineInstance RemoveLeastRecentlyUsed()
    {
        PipelineInstance? evicted = null;
        foreach (var candidate in _live.Values)
        {
            if (evicted is null || Volatile.Read(ref candidate.LastUsed) < Volatile.Read(ref evicted.LastUsed))
            {
                evicted = candidate;
            }
        }

        _live.TryRemove(evicted!.Key, out _);
        return evicted;
    }
}
