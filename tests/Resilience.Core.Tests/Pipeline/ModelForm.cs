namespace Resilience.Tests.Pipeline;

/// <summary>The execution forms a scenario runs through: every public execute method of both pipelines, but the single-attempt one.</summary>
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
}
