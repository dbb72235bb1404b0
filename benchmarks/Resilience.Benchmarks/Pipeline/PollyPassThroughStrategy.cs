namespace Resilience.Benchmarks.Pipeline;

/// <summary>Polly's equivalent of <see cref="PassThroughStrategy"/>.</summary>
internal sealed class PollyPassThroughStrategy : Polly.ResilienceStrategy
{
    protected override ValueTask<Polly.Outcome<TResult>> ExecuteCore<TResult, TState>(
        Func<Polly.ResilienceContext, TState, ValueTask<Polly.Outcome<TResult>>> callback, Polly.ResilienceContext context, TState state) =>
        callback(context, state);
}
