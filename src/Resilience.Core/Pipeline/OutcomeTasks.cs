namespace Resilience;

/// <summary>Turns outcomes into results or thrown exceptions for the throwing execution forms.</summary>
internal static class OutcomeTasks
{
    public static ValueTask<TResult> ToResultTask<TResult>(ValueTask<Outcome<TResult>> outcomeTask)
    {
        if (outcomeTask.IsCompletedSuccessfully)
        {
            var outcome = outcomeTask.Result;
            return outcome.IsSuccess
                ? new ValueTask<TResult>(outcome.Result!)
                : ValueTask.FromException<TResult>(outcome.Exception!);
        }

        return AwaitAsync(outcomeTask);

        static async ValueTask<TResult> AwaitAsync(ValueTask<Outcome<TResult>> outcomeTask) =>
            (await outcomeTask.ConfigureAwait(false)).GetResultOrThrow();
    }

    public static ValueTask ToTask(ValueTask<Outcome<VoidResult>> outcomeTask)
    {
        if (outcomeTask.IsCompletedSuccessfully)
        {
            var outcome = outcomeTask.Result;
            return outcome.IsSuccess ? default : ValueTask.FromException(outcome.Exception!);
        }

        return AwaitAsync(outcomeTask);

        static async ValueTask AwaitAsync(ValueTask<Outcome<VoidResult>> outcomeTask) =>
            (await outcomeTask.ConfigureAwait(false)).GetResultOrThrow();
    }
}
