using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace Resilience.Http.Tests.Middleware;

/// <summary>
/// A handler that holds each request (named by a header) until the test releases it, and records the order requests
/// entered it and the most that ran at once.
/// </summary>
internal sealed class HeldRequests
{
    public const string IdHeader = "X-Id";

    private readonly ConcurrentDictionary<int, TaskCompletionSource> _gates = new();
    private readonly ConcurrentQueue<int> _entered = new();
    private readonly SemaphoreSlim _entries = new(0);
    private readonly RunningCount _running = new();
    private int _seen;

    /// <summary>Gets the requests in the order they entered the handler.</summary>
    public IReadOnlyList<int> Entered => [.. _entered];

    /// <summary>Gets the most requests the handler ran at once.</summary>
    public int MostRunning => _running.Most;

    public async Task HandleAsync(HttpContext context)
    {
        var id = int.Parse(context.Request.Headers[IdHeader].ToString(), CultureInfo.InvariantCulture);
        _running.Enter();
        _entered.Enqueue(id);
        _entries.Release();
        try
        {
            await Gate(id).Task.WaitAsync(TimeSpan.FromSeconds(30));
            await context.Response.WriteAsync(id.ToString(CultureInfo.InvariantCulture));
        }
        finally
        {
            _running.Exit();
        }
    }

    /// <summary>Lets request <paramref name="id"/> answer.</summary>
    public void Release(int id) => Gate(id).TrySetResult();

    /// <summary>Waits (bounded) until one more request has entered the handler, and returns its id (one caller at a time).</summary>
    public async Task<int> NextEntryAsync()
    {
        Assert.True(await _entries.WaitAsync(TimeSpan.FromSeconds(30)), "no request entered the handler");

        // Each entry is queued before it is signalled: the n-th signal finds at least n entries.
        return _entered.ElementAt(_seen++);
    }

    private TaskCompletionSource Gate(int id) => _gates.GetOrAdd(id, static _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
}
