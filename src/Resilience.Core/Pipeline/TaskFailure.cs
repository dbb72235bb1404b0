namespace Resilience;

/// <summary>Reads what a completed task failed with, without rethrowing it (a throw and catch costs microseconds).</summary>
internal static class TaskFailure
{
    /// <summary>The exception awaiting <paramref name="completed"/>, a task that did not succeed, would raise.</summary>
    /// <remarks>
    /// A task cancelled by its token holds no exception object: awaiting it raises a new one just like this. (A task that
    /// stored the cancellation it was given would rethrow that one; the waits read here are not of that kind.)
    /// </remarks>
    public static Exception Of(Task completed) =>
        completed.IsCanceled ? new TaskCanceledException(completed) : completed.Exception!.InnerExceptions[0];
}
