namespace Resilience.Tests.Pipeline;

public class OutcomeTests
{
    [Fact]
    public void Result_outcome_is_success_and_returns_its_result()
    {
        var outcome = Outcome.FromResult("ok");

        Assert.True(outcome.IsSuccess);
        Assert.False(outcome.IsRejected);
        Assert.Null(outcome.Exception);
        Assert.Equal("ok", outcome.GetResultOrThrow());
        Assert.Equal("Result: ok", outcome.ToString());
    }

    [Fact]
    public void Exception_outcome_rethrows_the_same_exception()
    {
        var failure = new InvalidOperationException("bad");
        var outcome = Outcome.FromException<int>(failure);

        Assert.False(outcome.IsSuccess);
        Assert.Same(failure, outcome.Exception);
        Assert.Same(failure, Assert.Throws<InvalidOperationException>(() => outcome.GetResultOrThrow()));
        Assert.Throws<ArgumentNullException>(() => Outcome.FromException<int>(null!));
    }

    [Fact]
    public void Rejection_packs_reason_and_retry_after_exactly()
    {
        var strategy = new RecordingStrategy("gate") { OnEnter = () => Entry.Reject(RejectionReason.IsolatedCircuit, TimeSpan.FromTicks(12_345_678)) };
        var pipeline = new ResiliencePipelineBuilder { Name = "p" }.AddStrategy(strategy).Build();

        var outcome = pipeline.ExecuteOutcome(static (_, _) => 1, 0);
        var exception = Assert.IsType<ResilienceRejectedException>(outcome.Exception);

        Assert.Equal(RejectionReason.IsolatedCircuit, outcome.Rejection.Reason);
        Assert.Equal(TimeSpan.FromTicks(12_345_678), outcome.Rejection.RetryAfter);
        Assert.Equal("p", outcome.Rejection.PipelineName);
        Assert.Equal(RejectionReason.IsolatedCircuit, exception.Reason);
        Assert.Equal("gate", exception.StrategyName);
        Assert.NotSame(exception, outcome.Exception);
        Assert.StartsWith("Rejected: IsolatedCircuit by gate", outcome.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Rejection_without_retry_after_reports_none()
    {
        var strategy = new RecordingStrategy("gate") { OnEnter = () => Entry.Reject(RejectionReason.Custom) };
        var outcome = new ResiliencePipelineBuilder().AddStrategy(strategy).Build().ExecuteOutcome(static (_, _) => 1, 0);

        Assert.Null(outcome.Rejection.RetryAfter);
        Assert.Null(outcome.Rejection.PipelineName);
        Assert.Throws<InvalidOperationException>(() => default(Rejection).ToException());
    }

    [Fact]
    public void Entry_and_exit_action_validate_their_arguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Entry.Reject(RejectionReason.None));
        Assert.Throws<ArgumentNullException>(() => Entry.Pending(null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => ExitAction.Retry(TimeSpan.FromTicks(-1)));
        Assert.Throws<ArgumentNullException>(() => ExitAction.Fail(null!));
        Assert.Equal(ExitActionKind.Continue, ExitAction.Continue.Kind);
        Assert.Equal(EntryKind.Admitted, Entry.Admitted.Kind);
    }

    [Fact]
    public void Exceptions_have_the_standard_constructors_and_carry_their_source()
    {
        var inner = new IOException();
        var exception = new ResilienceException("m", "pipe", "strat", TimeSpan.FromSeconds(2), inner);

        Assert.Equal(("pipe", "strat", TimeSpan.FromSeconds(2)), (exception.PipelineName, exception.StrategyName, exception.RetryAfter));
        Assert.Same(inner, exception.InnerException);
        Assert.NotEmpty(new ResilienceException().Message);
        Assert.NotEmpty(new ResilienceRejectedException().Message);
        Assert.Same(inner, new ResilienceRejectedException("m", inner).InnerException);
        Assert.Equal(RejectionReason.None, new ResilienceRejectedException("m").Reason);
    }

    [Fact]
    public void Strategy_name_defaults_to_its_type_and_fallback_is_refused_by_default()
    {
        var pipeline = new ResiliencePipelineBuilder<string>().AddStrategy(new AskingForFallback()).Build();

        var outcome = pipeline.ExecuteOutcome(static (_, _) => "x", 0);

        Assert.Equal(nameof(AskingForFallback), pipeline.Strategies[0].Name);
        Assert.Equal(nameof(AskingForFallback), pipeline.Strategies[0].ToString());
        Assert.IsType<InvalidOperationException>(outcome.Exception);
    }

    private sealed class AskingForFallback : ResilienceStrategy
    {
        protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome) => ExitAction.Fallback;
    }
}
