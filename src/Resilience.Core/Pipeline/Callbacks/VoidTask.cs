namespace Resilience;

internal static class VoidTask
{
    /// <summary>Views a <see cref="ValueTask"/> as a <see cref="ValueTask{VoidResult}"/>, allocating only if it has not completed.</summary>
    public static ValueTask<VoidResult> ToResult(ValueTask task)
    {
        if (task.IsCompletedSuccessfully)
        {
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
