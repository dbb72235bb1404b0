using System.Runtime.CompilerServices;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Exceptions;

/// <summary>
/// What a caller catches is the callback's own exception, the same object, unwrapped, with its throw site's frames; and a
/// library exception names where it came from.
/// </summary>
public class ExceptionIdentityTests
{
    public static TheoryData<int> Depths => new() { 0, 1, 3 };

    // Strategies that admit everything and let every outcome pass (a retry that never retries, a timeout that never
    // fires): the exception passes through them all.
    private static ResiliencePipeline PipelineOf(int depth)
    {
        var builder = new ResiliencePipelineBuilder();
        if (depth >= 1)
        {
            builder.AddRetry(new RetryOptions { MaxRetryAttempts = 2, Delay = TimeSpan.Zero }, _ => false);
        }

        if (depth >= 2)
        {
            builder.AddTimeout(TimeSpan.FromMinutes(5));
            builder.AddCircuitBreaker(new CircuitBreakerOptions(), _ => false);
        }

        return builder.Build();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ThrowAtTheSite(Exception exception) => throw exception;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async ValueTask<int> ThrowAtTheSiteAfterYield(Exception exception)
    {
        await Task.Yield();
        return ThrowAtTheSite(exception);
    }

    [Theory]
    [MemberData(nameof(Depths))]
    public async Task The_callbacks_exception_reaches_the_caller_as_itself_with_its_throw_site(int depth)
    {
        var pipeline = PipelineOf(depth);
        var failures = Enumerable.Range(0, 5).Select(i => new InvalidOperationException($"failure {i}")).ToArray();

        var sync = Assert.Throws<InvalidOperationException>(() => pipeline.Execute(_ => ThrowAtTheSite(failures[0])));
        var asyncThrownAtOnce = await Assert.ThrowsAsync<InvalidOperationException>(
            async () => await pipeline.ExecuteAsync(_ => new ValueTask<int>(ThrowAtTheSite(failures[1]))));
        var asyncThrownLater = await Assert.ThrowsAsync<InvalidOperationException>(
            async () => await pipeline.ExecuteAsync(_ => ThrowAtTheSiteAfterYield(failures[2])));
        var fromOutcome = Assert.Throws<InvalidOperationException>(
            () => pipeline.ExecuteOutcome((failure, _) => ThrowAtTheSite(failure), failures[3]).GetResultOrThrow());
        var outcome = await pipeline.ExecuteOutcomeAsync((failure, _) => ThrowAtTheSiteAfterYield(failure), failures[4]);
        var fromAsyncOutcome = Assert.Throws<InvalidOperationException>(() => outcome.GetResultOrThrow());

        Assert.Equal(failures, [sync, asyncThrownAtOnce, asyncThrownLater, fromOutcome, fromAsyncOutcome]);
        foreach (var failure in failures)
        {
            Assert.Contains(nameof(ThrowAtTheSite), failure.StackTrace, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task After_retries_the_caller_gets_the_last_attempts_exception_unwrapped()
    {
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.Zero })
            .Build();
        var thrown = new List<Exception>();

        int Fail(CancellationToken _)
        {
            var failure = new InvalidOperationException($"attempt {thrown.Count}");
            thrown.Add(failure);
            return ThrowAtTheSite(failure);
        }

        var sync = Assert.Throws<InvalidOperationException>(() => pipeline.Execute(Fail));
        Assert.Equal(4, thrown.Count);
        Assert.Same(thrown[^1], sync);

        var asynchronous = await Assert.ThrowsAsync<InvalidOperationException>(
            async () => await pipeline.ExecuteAsync(async token => { await Task.Yield(); return Fail(token); }));
        Assert.Equal(8, thrown.Count);
        Assert.Same(thrown[^1], asynchronous);
        Assert.Contains(nameof(ThrowAtTheSite), asynchronous.StackTrace, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Depths))]
    public async Task A_cached_exception_thrown_by_every_call_keeps_a_stack_trace_of_one_call(int depth)
    {
        var pipeline = PipelineOf(depth);
        var cached = new InvalidOperationException("cached");
        var lengths = new List<int>();
        for (var call = 0; call < 6; call++)
        {
            lengths.Add(Assert.Throws<InvalidOperationException>(() => pipeline.Execute<int>(_ => throw cached)).StackTrace!.Length);
            lengths.Add((await Assert.ThrowsAsync<InvalidOperationException>(
                async () => await pipeline.ExecuteAsync<int>(_ => throw cached))).StackTrace!.Length);
        }

        // Each form's trace is the same length on every call: nothing accumulates on the shared instance.
        Assert.Single(lengths.Where((_, index) => index % 2 == 0).Distinct());
        Assert.Single(lengths.Where((_, index) => index % 2 == 1).Distinct());
    }

    [Fact]
    public void An_open_circuits_exception_names_its_pipeline_and_breaker_and_says_when_to_retry()
    {
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions
        {
            Name = "inventory",
            ConsecutiveFailures = 1,
            BreakDuration = TimeSpan.FromSeconds(5),
            TimeProvider = time,
        });
        var pipeline = new ResiliencePipelineBuilder { Name = "catalog" }.AddCircuitBreaker(breaker).Build();
        Assert.Throws<IOException>(() => pipeline.Execute<int>(_ => throw new IOException()));
        time.Advance(TimeSpan.FromSeconds(2));

        var open = Assert.Throws<BrokenCircuitException>(() => pipeline.Execute(_ => 1));
        breaker.Isolate();
        var isolated = Assert.Throws<IsolatedCircuitException>(() => pipeline.Execute(_ => 1));

        Assert.Equal(("catalog", "inventory", RejectionReason.BrokenCircuit), (open.PipelineName, open.StrategyName, open.Reason));
        Assert.Equal(TimeSpan.FromSeconds(3), open.RetryAfter);
        Assert.Contains("inventory", open.Message, StringComparison.Ordinal);
        Assert.Equal(("catalog", "inventory", RejectionReason.IsolatedCircuit), (isolated.PipelineName, isolated.StrategyName, isolated.Reason));
        Assert.Null(isolated.RetryAfter);
    }

    [Fact]
    public async Task A_timeouts_exception_names_its_pipeline_and_strategy_and_holds_the_cancellation_it_caused()
    {
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { Name = "catalog" }
            .AddTimeout(new TimeoutOptions { Name = "per-attempt", Timeout = TimeSpan.FromSeconds(1), TimeProvider = time })
            .Build();

        var call = pipeline.ExecuteAsync(async token =>
        {
            await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, time, token);
            return 1;
        });
        time.Advance(TimeSpan.FromSeconds(2));
        var timeout = await Assert.ThrowsAsync<TimeoutRejectedException>(async () => await call.AsTask().WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(("catalog", "per-attempt", TimeSpan.FromSeconds(1)), (timeout.PipelineName, timeout.StrategyName, timeout.Timeout));
        Assert.IsAssignableFrom<OperationCanceledException>(timeout.InnerException);

        // Like a breaker's or a limiter's, the message alone (a log line) tells which strategy it was.
        Assert.Contains("'per-attempt'", timeout.Message, StringComparison.Ordinal);
    }
}
