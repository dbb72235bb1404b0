namespace Resilience;

internal static class VoidTask
{
    /// <summary>Views a <see cref="ValueTask"/> as a <see cref="ValueTask{VoidResult}"/>, allocating only if it has not completed.</summary>
    public static ValueTask<VoidResult> ToResult(ValueTask task)
    {
        if (task.IsCompletedSuccessfully)
        {
            // Taken all the same: a task backed by a reusable source is released for its next operation only when its
            // result is taken (for the common task without a source, this is one null check).
            task.GetAwaiter().GetResult();
            return default;
        }

        return AwaitAsync(task);

        static async ValueTask<VoidResult> AwaitAsync(ValueTask task)
        {
            await task.ConfigureAwait(false);
            return default;
        }
    }
}
