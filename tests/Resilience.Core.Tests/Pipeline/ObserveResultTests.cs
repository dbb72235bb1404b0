namespace Resilience.Tests.Pipeline;

/// <summary>What a strategy that observes results is shown: what the call produced, not what a fallback served.</summary>
public class ObserveResultTests
{
    [Theory]
    [InlineData(2, false)]
    [InlineData(2, true)]
    [InlineData(8, false)]
    [InlineData(8, true)]
    public async Task A_result_a_custom_strategy_served_as_fallback_is_not_observed_by_the_strategies_outside(int length, bool servedLater)
    {
        // A last-known-good store outside a fallback of one's own must not record the placeholder as a good value.
        var observer = new Observer();
        var builder = new ResiliencePipelineBuilder<string>().AddStrategy(observer);
        for (var padding = 2; padding < length; padding++)
        {
            builder.AddStrategy(new RecordingStrategy($"p{padding}"));
        }

        var pipeline = builder.AddStrategy(new PlaceholderFallback(servedLater)).Build();

        var failed = await pipeline.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<string>(new IOException()), 0);
        var succeeded = await pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<string>("real"), 0);

        Assert.Equal("placeholder", failed.Result);
        Assert.Equal("real", succeeded.Result);
        Assert.Equal(["real"], observer.Observed);
        Assert.Equal(2, observer.Exits);
    }

    private sealed class Observer : ResilienceStrategy
    {
        public Observer()
        {
            ObservesResults = true;
        }

        public List<object?> Observed { get; } = [];

        public int Exits { get; private set; }

        protected internal override void ObserveResult<TResult, TState>(TResult result, TState state) => Observed.Add(result);

        protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
        {
            Exits++;
            return ExitAction.Continue;
        }
    }

    private sealed class PlaceholderFallback(bool servedLater) : ResilienceStrategy
    {
        protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome) =>
            outcome.IsHandled ? ExitAction.Fallback : ExitAction.Continue;

        protected internal override ValueTask<Outcome<TResult>> ProvideFallbackAsync<TResult, TState>(
            Outcome<TResult> outcome, TState state, string? pipelineName, CancellationToken cancellationToken)
        {
            var served = Outcome.FromResult((TResult)(object)"placeholder");
            return servedLater ? Later(served) : new ValueTask<Outcome<TResult>>(served);

            static async ValueTask<Outcome<TResult>> Later(Outcome<TResult> served)
            {
                await Task.Yield();
                return served;
            }
        }
    }
}
