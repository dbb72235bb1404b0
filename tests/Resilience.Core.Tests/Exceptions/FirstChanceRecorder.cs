using System.Runtime.ExceptionServices;

namespace Resilience.Tests.Exceptions;

/// <summary>
/// Records the first-chance exceptions raised in one test's own thread and async flow (an AsyncLocal scope), so tests
/// running in parallel do not see each other's.
/// </summary>
internal sealed class FirstChanceRecorder : IDisposable
{
    private static readonly AsyncLocal<List<Exception>?> Current = new();

    static FirstChanceRecorder() => AppDomain.CurrentDomain.FirstChanceException += Record;

    private readonly List<Exception> _seen = [];

    private FirstChanceRecorder() => Current.Value = _seen;

    /// <summary>Gets the exceptions raised so far in the scope.</summary>
    public IReadOnlyList<Exception> Seen
    {
        get
        {
            lock (_seen)
            {
                return [.. _seen];
            }
        }
    }

    /// <summary>Starts recording in the calling flow; continuations started from it record too.</summary>
    public static FirstChanceRecorder Start() => new();

    public void Dispose() => Current.Value = null;

    private static void Record(object? sender, FirstChanceExceptionEventArgs e)
    {
        if (Current.Value is { } seen)
        {
            lock (seen)
            {
                seen.Add(e.Exception);
            }
        }
    }
}
