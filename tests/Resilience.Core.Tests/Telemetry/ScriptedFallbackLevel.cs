using Resilience.Tests.Composite;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// The first level of a fallback chain of <see cref="TelemetryModelTests"/> (a secondary endpoint, say), doing what
/// <see cref="Kind"/> says for the call in hand: serving at once or later (a value, or a placeholder its predicate calls
/// a failure), or failing (thrown, a faulted task, or a task
/// faulted later), or waiting for its token until the caller cancels. A level that does not complete at once leaves its task in <see cref="Pending"/> for the driver to
/// complete, and releases the call's <see cref="ScriptedCall.Moved"/> so the driver sees it rest there. Each failure is
/// a new exception, kept in <see cref="Thrown"/>: the call must surface that very exception, the failure it replaced
/// attached.
/// </summary>
internal sealed class ScriptedFallbackLevel
{
    public const string Name = "secondary";
    public const int ServedValue = 5;

    private TaskCompletionSource<int>? _pending;
    private Exception? _thrown;

    /// <summary>Gets or sets what the level does the next time it runs.</summary>
    public FallbackLevelKind Kind { get; set; }

    /// <summary>Gets the task of a level that has not completed, if it went pending.</summary>
    public TaskCompletionSource<int>? Pending => Volatile.Read(ref _pending);

    /// <summary>Gets the exception the level failed with last.</summary>
    public Exception? Thrown => Volatile.Read(ref _thrown);

    /// <summary>The level, trying the next one when it fails or not (<paramref name="tryNextOnFailure"/>).</summary>
    public FallbackLevel<int> AsLevel(bool tryNextOnFailure) => new(Name, Run, tryNextOnFailure);

    /// <summary>Completes the pending level as its kind says (one that waits for its token: its caller cancels it).</summary>
    public void Complete(CancellationTokenSource caller)
    {
        if (Kind == FallbackLevelKind.CancelledLater)
        {
            caller.Cancel();
        }
        else if (Kind == FallbackLevelKind.ServesLater)
        {
            Pending!.SetResult(ServedValue);
        }
        else
        {
            Pending!.SetException(NewFailure());
        }
    }

    private ValueTask<int> Run(FallbackArguments<int> arguments)
    {
        switch (Kind)
        {
            case FallbackLevelKind.Throws:
                throw NewFailure();
            case FallbackLevelKind.Faults:
                return ValueTask.FromException<int>(NewFailure());
            case FallbackLevelKind.ServesLater:
            case FallbackLevelKind.FailsLater:
            case FallbackLevelKind.CancelledLater:
                // Completed by the driver on the thread that advances the clock, or cancelled by its caller.
                var pending = new TaskCompletionSource<int>();
                if (Kind == FallbackLevelKind.CancelledLater)
                {
                    arguments.CancellationToken.Register(() => pending.TrySetCanceled(arguments.CancellationToken));
                }

                Volatile.Write(ref _pending, pending);
                ((ScriptedCall)arguments.State!).Moved.Release();
                return new ValueTask<int>(pending.Task);
            case FallbackLevelKind.ServesFailedResult:
                return new ValueTask<int>(-1);
            default:
                return new ValueTask<int>(ServedValue);
        }
    }

    private InvalidDataException NewFailure()
    {
        var failure = new InvalidDataException("scripted fallback failure");
        Volatile.Write(ref _thrown, failure);
        return failure;
    }
}
