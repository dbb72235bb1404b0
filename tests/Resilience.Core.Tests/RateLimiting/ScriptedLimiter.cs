using System.Text;
using System.Threading.RateLimiting;

namespace Resilience.Tests.RateLimiting;

/// <summary>
/// A limiter (or a partitioned one, its partitions numbered from 0) driven by a differential script: the leases it gave,
/// its waiters and their tokens, and what a caller can see of them after each step.
/// </summary>
internal sealed class ScriptedLimiter : IDisposable
{
    private readonly Func<int, int, RateLimitLease> _attempt;
    private readonly Func<int, int, CancellationToken, ValueTask<RateLimitLease>> _acquire;
    private readonly Func<int, RateLimiterStatistics?> _statistics;
    private readonly Func<TimeSpan?>? _idleDuration;
    private readonly IAsyncDisposable _limiter;
    private readonly List<(RateLimitLease Lease, int Key, int Permits, bool Released)> _leases = [];
    private readonly List<(Task<RateLimitLease> Task, int Key, int Permits, CancellationTokenSource? Token, bool Kept)> _waiters = [];
    private string _last = string.Empty;

    private ScriptedLimiter(
        Func<int, int, RateLimitLease> attempt,
        Func<int, int, CancellationToken, ValueTask<RateLimitLease>> acquire,
        Func<int, RateLimiterStatistics?> statistics,
        int keys,
        IAsyncDisposable limiter,
        Func<TimeSpan?>? idleDuration)
    {
        _idleDuration = idleDuration;
        _attempt = attempt;
        _acquire = acquire;
        _statistics = statistics;
        Keys = keys;
        _limiter = limiter;
    }

    /// <summary>Gets how many partitions the script uses: 1 for a limiter.</summary>
    public int Keys { get; }

    /// <summary>Gets whether the script disposed the limiter.</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>Gets or sets a parameter name the limiter's argument errors give, and the name it is compared as.</summary>
    public (string Name, string ComparedAs)? ParameterAlias { get; set; }

    /// <summary>Gets or sets whether statistics are compared after the limiter was disposed.</summary>
    public bool StatisticsAfterDisposal { get; set; } = true;

    public static ScriptedLimiter Of(RateLimiter limiter) =>
        new((_, permits) => limiter.AttemptAcquire(permits), (_, permits, token) => limiter.AcquireAsync(permits, token), _ => limiter.GetStatistics(), 1, limiter, () => limiter.IdleDuration);

    public static ScriptedLimiter Of(PartitionedRateLimiter<int> limiter, int keys) =>
        new(limiter.AttemptAcquire, limiter.AcquireAsync, limiter.GetStatistics, keys, limiter, idleDuration: null);

    /// <summary>Gets the statistics of a partition (of the limiter, for key 0).</summary>
    public RateLimiterStatistics? StatisticsOf(int key) => _statistics(key);

    public string Attempt(int key, int permits) => Call(() => Describe(Keep(_attempt(key, permits), key, permits)));

    /// <summary>Asks for permits with no token (<paramref name="token"/> null), a live one or one already cancelled.</summary>
    public string Acquire(int key, int permits, bool? token) => Call(() =>
    {
        var source = token is null ? null : new CancellationTokenSource();
        if (token == true)
        {
            source!.Cancel();
        }

        Task<RateLimitLease> task;
        try
        {
            task = _acquire(key, permits, source?.Token ?? default).AsTask();
        }
        catch
        {
            source?.Dispose();
            throw;
        }

        _waiters.Add((task, key, permits, source, false));
        return $"waiter #{_waiters.Count - 1}";
    });

    /// <summary>A waiter whose token is not cancelled yet, served ones too (cancelling then must change nothing).</summary>
    public int? Cancellable(int pick)
    {
        var open = Enumerable.Range(0, _waiters.Count).Where(i => _waiters[i].Token is { IsCancellationRequested: false }).ToList();
        return open.Count == 0 ? null : open[pick % open.Count];
    }

    /// <summary>The waiters still waiting, oldest first.</summary>
    public IEnumerable<(int Index, int Key, int Permits)> Waiting() =>
        Enumerable.Range(0, _waiters.Count).Where(i => !_waiters[i].Task.IsCompleted).Select(i => (i, _waiters[i].Key, _waiters[i].Permits));

    public int KeyOfWaiter(int waiter) => _waiters[waiter].Key;

    public string Cancel(int waiter) => Call(() =>
    {
        _waiters[waiter].Token!.Cancel();
        return string.Empty;
    });

    /// <summary>A lease that holds permits not released yet.</summary>
    public int? Held(int pick)
    {
        var held = Enumerable.Range(0, _leases.Count).Where(i => _leases[i].Lease.IsAcquired && !_leases[i].Released).ToList();
        return held.Count == 0 ? null : held[pick % held.Count];
    }

    public (int Key, int Permits) HeldBy(int lease) => (_leases[lease].Key, _leases[lease].Permits);

    public string Release(int lease, bool twice) => Call(() =>
    {
        _leases[lease] = _leases[lease] with { Released = true };
        _leases[lease].Lease.Dispose();
        if (twice)
        {
            _leases[lease].Lease.Dispose();
        }

        return string.Empty;
    });

    public string DisposeLimiter(bool asynchronously) => Call(() =>
    {
        IsDisposed = true;
        if (asynchronously)
        {
            // The limiters compared dispose synchronously underneath: the task is complete when it returns.
            var disposal = _limiter.DisposeAsync();
            return disposal.IsCompletedSuccessfully ? string.Empty : "disposal pending";
        }

        ((IDisposable)_limiter).Dispose();
        return string.Empty;
    });

    public void Record(string outcome) => _last = outcome;

    /// <summary>What a caller sees now: the last call's outcome, every waiter's state, the statistics.</summary>
    public string Observe()
    {
        var text = new StringBuilder(_last);
        for (var i = 0; i < _waiters.Count; i++)
        {
            var (task, key, permits, token, kept) = _waiters[i];
            text.Append($" | #{i}({(Keys > 1 ? $"key {key}, " : string.Empty)}{permits}): ");
            if (!task.IsCompleted)
            {
                text.Append("waiting");
            }
            else if (task.IsCanceled)
            {
                text.Append($"cancelled{(CancelledWith(task) == token?.Token ? string.Empty : " (another token)")}");
            }
            else if (task.IsFaulted)
            {
                var thrown = task.Exception!.InnerException!;
                text.Append($"faulted {DescribeThrown(thrown)}");
            }
            else
            {
#pragma warning disable xUnit1031 // Completed: read, not waited for.
                var lease = task.Result;
#pragma warning restore xUnit1031
                if (!kept)
                {
                    _waiters[i] = _waiters[i] with { Kept = true };
                    Keep(lease, key, permits);
                }

                text.Append(Describe(lease));
            }
        }

        if (_idleDuration is not null && !IsDisposed)
        {
            // Whether the limiter is idle (the partitioned limiter's eviction reads it), not for how long: time is not compared.
            text.Append(_idleDuration() is null ? " | busy" : " | idle");
        }

        for (var key = 0; key < Keys; key++)
        {
            text.Append(" | ").Append(Keys > 1 ? $"key {key}: " : string.Empty).Append(Statistics(key));
        }

        return text.ToString();
    }

    public void Dispose()
    {
        ((IDisposable)_limiter).Dispose();
        foreach (var waiter in _waiters)
        {
            waiter.Token?.Dispose();
        }
    }

    private static CancellationToken? CancelledWith(Task task)
    {
        try
        {
#pragma warning disable xUnit1031 // Completed: read, not waited for.
            task.GetAwaiter().GetResult();
#pragma warning restore xUnit1031
            return null;
        }
        catch (OperationCanceledException cancelled)
        {
            return cancelled.CancellationToken;
        }
    }

    private static string Describe(RateLimitLease lease)
    {
        var metadata = string.Join(",", lease.GetAllMetadata().Select(pair => $"{pair.Key}={pair.Value}"));
        return $"{(lease.IsAcquired ? "acquired" : "refused")}[{metadata}]";
    }

    private string Call(Func<string> call)
    {
        try
        {
            return call();
        }
        catch (Exception thrown)
        {
            return $"threw {DescribeThrown(thrown)}";
        }
    }

    private string DescribeThrown(Exception thrown)
    {
        if (thrown is not ArgumentException argument)
        {
            return thrown.GetType().Name;
        }

        var name = ParameterAlias is { } alias && argument.ParamName == alias.Name ? alias.ComparedAs : argument.ParamName;
        return $"{thrown.GetType().Name}({name})";
    }

    private RateLimitLease Keep(RateLimitLease lease, int key, int permits)
    {
        _leases.Add((lease, key, permits, false));
        return lease;
    }

    private string Statistics(int key)
    {
        if (IsDisposed && !StatisticsAfterDisposal)
        {
            return "disposed";
        }

        try
        {
            var statistics = StatisticsOf(key)!;
            return $"available {statistics.CurrentAvailablePermits}, queued {statistics.CurrentQueuedCount}, succeeded {statistics.TotalSuccessfulLeases}, failed {statistics.TotalFailedLeases}";
        }
        catch (Exception thrown)
        {
            return $"statistics threw {thrown.GetType().Name}";
        }
    }
}
