namespace Resilience.Tests.Pipeline;

/// <summary>The execution forms a scenario runs through: every public execute method of both pipelines, the single-attempt ones and those without retries included.</summary>
public enum ModelForm
{
    TypedExecuteAsyncWithState,
    TypedExecuteAsync,
    TypedExecuteOutcomeAsync,
    TypedExecuteWithState,
    TypedExecute,
    TypedExecuteOutcome,
    ExecuteAsyncWithState,
    ExecuteAsync,
    ExecuteAsyncVoidWithState,
    ExecuteAsyncVoid,
    ExecuteOutcomeAsync,
    ExecuteWithState,
    Execute,
    ExecuteVoidWithState,
    ExecuteVoid,
    ExecuteOutcome,
    ExecuteSingleAttemptOutcomeAsync,
    TypedExecuteWithoutRetriesOutcomeAsync,
    TypedExecuteWithoutRetriesOutcome,
    ExecuteWithoutRetriesOutcomeAsync,
}
