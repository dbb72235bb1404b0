using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// Real threads drive pipelines of the full chain (fallback, retry, breaker, limiter, timeout) through every kind of
/// outcome, by the synchronous and the asynchronous forms, each kind on its own pipeline so that its counts do not
/// depend on the interleaving: every counter must add up exactly to what the callers saw, with the documented tags and
/// their values.
/// </summary>
public sealed class OutcomeAccountingStressTests
{
    private const int Workers = 4;
    private const int CallsPerWorker = 250;

    private enum Kind
    {
        Success,
        Transient,
        Exhausted,
        Unhandled,
        ServedBySecondary,
        ServedByCache,
        BrokenServed,
        BrokenRejected,
        LimitedServed,
        LimitedRejected,
        QueueFull,
        TimedOut,
        BudgetRefused,
        CancelledInCallback,
        CancelledDuringTimeout,
        CancelledBeforeStart,
    }

    [Fact]
    public async Task Every_outcome_kind_is_counted_exactly_once_with_its_tags_under_concurrent_calls()
    {
        using var telemetry = new ResilienceTelemetry();
        var documented = DocumentedInstrument.ReadAll().ToDictionary(row => row.Name);
        using var calls = new MetricCollector<long>(telemetry.Meter, "resilience.pipeline.calls");
        using var durations = new MetricCollector<double>(telemetry.Meter, "resilience.pipeline.duration");
        using var breakerRejections = new MetricCollector<long>(telemetry.Meter, "resilience.circuit_breaker.rejections");
        using var limiterRejections = new MetricCollector<long>(telemetry.Meter, "resilience.rate_limiter.rejections");
        using var retries = new MetricCollector<long>(telemetry.Meter, "resilience.retry.attempts");
        using var budgetRefusals = new MetricCollector<long>(telemetry.Meter, "resilience.retry.budget_refusals");
        using var fallbacks = new MetricCollector<long>(telemetry.Meter, "resilience.fallback.served");
        using var timeouts = new MetricCollector<long>(telemetry.Meter, "resilience.timeout.expired");
        using var waits = new MetricCollector<long>(telemetry.Meter, "resilience.rate_limiter.waits");
        var chains = Enum.GetValues<Kind>().ToDictionary(kind => kind, kind => new Chain(kind, telemetry));

        var made = new long[chains.Count];
        await Task.WhenAll(Enumerable.Range(0, Workers).Select(worker => Task.Run(async () =>
        {
            var random = new Random(worker);
            for (var i = 0; i < CallsPerWorker; i++)
            {
                var kind = (Kind)random.Next(chains.Count);
                await chains[kind].CallAsync(sync: random.Next(2) == 0);
                Interlocked.Increment(ref made[(int)kind]);
            }
        })));

        var expectedCalls = new Dictionary<(string, string), long>();
        var expectedRetries = new Dictionary<(string, string), long>();
        var expectedBudgetRefusals = new Dictionary<(string, string), long>();
        var expectedTimeouts = new Dictionary<(string, string), long>();
        var expectedBreaker = new Dictionary<(string, string), long>();
        var expectedLimiter = new Dictionary<(string, string), long>();
        var expectedFallbacks = new Dictionary<(string, string), long>();
        foreach (var (kind, chain) in chains)
        {
            var n = made[(int)kind];
            if (n == 0)
            {
                continue;
            }

            var name = chain.Name;
            var (outcome, retried, timedOut, invoked) = Expected(kind);
            expectedCalls[(name, outcome)] = n;
            Add(expectedRetries, (name, "retry"), n * retried);

            // Every call of the drained budget's kind fails once and has that one retry refused; no other kind has a budget.
            Add(expectedBudgetRefusals, (name, "retry"), kind is Kind.BudgetRefused ? n : 0);
            Add(expectedTimeouts, (name, "timeout"), n * timedOut);
            Assert.Equal((name, n * invoked), (name, Volatile.Read(ref chain.Invocations)));
            Assert.Equal((name, chain.Outcomes.Count), (name, (int)n));
            Assert.All(chain.Outcomes, o => Assert.Equal(outcome, o));
            switch (kind)
            {
                case Kind.BrokenServed or Kind.BrokenRejected:
                    expectedBreaker[($"{name}/breaker", "isolated_circuit")] = n;
                    break;
                case Kind.LimitedServed or Kind.LimitedRejected or Kind.QueueFull:
                    expectedLimiter[($"{name}/limiter", "rate_limited")] = n;
                    break;
            }

            switch (kind)
            {
                case Kind.ServedBySecondary or Kind.BrokenServed or Kind.LimitedServed:
                    expectedFallbacks[(name, "secondary")] = n;
                    break;
                case Kind.ServedByCache:
                    expectedFallbacks[(name, "cache")] = n;
                    break;
            }
        }

        Assert.Equal(expectedCalls.OrderBy(p => p.Key), Sum(calls, "pipeline", "outcome").OrderBy(p => p.Key));
        Assert.Equal(
            expectedCalls.OrderBy(p => p.Key),
            durations.GetMeasurementSnapshot().GroupBy(m => ((string)m.Tags["pipeline"]!, (string)m.Tags["outcome"]!)).ToDictionary(g => g.Key, g => (long)g.Count()).OrderBy(p => p.Key));
        Assert.Equal(expectedRetries.OrderBy(p => p.Key), Sum(retries, "pipeline", "strategy").OrderBy(p => p.Key));
        Assert.Equal(expectedBudgetRefusals.OrderBy(p => p.Key), Sum(budgetRefusals, "pipeline", "strategy").OrderBy(p => p.Key));
        Assert.All(budgetRefusals.GetMeasurementSnapshot(), m => Assert.Equal(1, m.Value));
        Assert.Equal(expectedTimeouts.OrderBy(p => p.Key), Sum(timeouts, "pipeline", "strategy").OrderBy(p => p.Key));
        Assert.Equal(expectedBreaker.OrderBy(p => p.Key), Sum(breakerRejections, "strategy", "reason").OrderBy(p => p.Key));
        Assert.Equal(expectedLimiter.OrderBy(p => p.Key), Sum(limiterRejections, "strategy", "reason").OrderBy(p => p.Key));
        Assert.Equal(expectedFallbacks.OrderBy(p => p.Key), Sum(fallbacks, "pipeline", "level").OrderBy(p => p.Key));

        // A queue that refuses at once (full) made nobody wait; no other kind meets a queue.
        Assert.Empty(waits.GetMeasurementSnapshot());

        // Rejections and fallbacks name the pipeline they happened in; fallbacks name the fallback strategy.
        Assert.All(breakerRejections.GetMeasurementSnapshot().Concat(limiterRejections.GetMeasurementSnapshot()), m => Assert.StartsWith((string)m.Tags["pipeline"]! + "/", (string)m.Tags["strategy"]!));
        Assert.All(fallbacks.GetMeasurementSnapshot(), m => Assert.Equal("Fallback", m.Tags["strategy"]));

        foreach (var (name, collector) in new (string, MetricCollector<long>)[]
        {
            ("resilience.pipeline.calls", calls), ("resilience.circuit_breaker.rejections", breakerRejections),
            ("resilience.rate_limiter.rejections", limiterRejections), ("resilience.retry.attempts", retries),
            ("resilience.retry.budget_refusals", budgetRefusals),
            ("resilience.fallback.served", fallbacks), ("resilience.timeout.expired", timeouts),
        })
        {
            Assert.All(collector.GetMeasurementSnapshot(), m => Assert.Equal(documented[name].Tags.Order(), m.Tags.Keys.Order()));
        }

        foreach (var chain in chains.Values)
        {
            await chain.DisposeAsync();
        }
    }

    /// <summary>What one call of a kind ends as, and how many retries, expired timeouts and callback invocations it makes.</summary>
    private static (string Outcome, long Retries, long Timeouts, long Invocations) Expected(Kind kind) => kind switch
    {
        Kind.Success => ("success", 0, 0, 1),
        Kind.Transient => ("success", 1, 0, 2),
        Kind.Exhausted => ("failure", 2, 0, 3),
        Kind.Unhandled => ("failure", 0, 0, 1),
        Kind.ServedBySecondary or Kind.ServedByCache => ("success", 0, 0, 1),
        Kind.BrokenServed or Kind.LimitedServed => ("success", 0, 0, 0),
        Kind.BrokenRejected or Kind.LimitedRejected or Kind.QueueFull => ("rejected", 0, 0, 0),
        Kind.TimedOut => ("failure", 2, 3, 3),
        Kind.BudgetRefused => ("failure", 0, 0, 1),

        // A caller that cancelled before its call started: counted as cancelled, and nothing runs.
        Kind.CancelledBeforeStart => ("cancelled", 0, 0, 0),
        _ => ("cancelled", 0, 0, 1),
    };

    private static void Add(Dictionary<(string, string), long> counts, (string, string) key, long value)
    {
        if (value != 0)
        {
            counts[key] = value;
        }
    }

    private static Dictionary<(string, string), long> Sum(MetricCollector<long> collector, string first, string second) =>
        collector.GetMeasurementSnapshot()
            .GroupBy(m => ((string)m.Tags[first]!, (string)m.Tags[second]!))
            .ToDictionary(g => g.Key, g => g.Sum(m => m.Value));

    private sealed class FallbackException() : Exception("to be replaced");

    /// <summary>One pipeline of the full chain, configured so that every call through it ends as its kind says.</summary>
    private sealed class Chain
    {
        private readonly Kind _kind;
        private readonly FakeTimeProvider _time = new();
        private readonly InFlightLimiter _limiter;
        private readonly List<IDisposable> _held = [];
        private readonly Task<System.Threading.RateLimiting.RateLimitLease>? _parked;
        private readonly ResiliencePipeline<int> _pipeline;

        public Chain(Kind kind, ResilienceTelemetry telemetry)
        {
            _kind = kind;
            Name = kind.ToString();
            var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = $"{Name}/breaker", MinimumThroughput = int.MaxValue, TimeProvider = _time });
            if (kind is Kind.BrokenServed or Kind.BrokenRejected)
            {
                breaker.Isolate();
            }

            _limiter = new(new InFlightLimiterOptions { PermitLimit = 1_000, QueueLimit = kind is Kind.QueueFull ? 1 : 0 });
            if (kind is Kind.LimitedServed or Kind.LimitedRejected or Kind.QueueFull)
            {
                _held.Add(_limiter.AttemptAcquire(1_000));
            }

            if (kind is Kind.QueueFull)
            {
                // The one place in the queue is taken for the whole run: every call finds it full.
                _parked = _limiter.AcquireAsync(1).AsTask();
            }

            RetryBudget? budget = null;
            if (kind is Kind.BudgetRefused)
            {
                budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 2 });
                budget.RecordFailure();
                budget.RecordFailure();
            }

            var fallback = new FallbackOptions<int>
            {
                HandleRejections = kind is not (Kind.BrokenRejected or Kind.LimitedRejected or Kind.QueueFull),
                Levels =
                {
                    FallbackLevel<int>.FromFactory("secondary", a => (Kind)a.State! == Kind.ServedByCache ? throw new InvalidOperationException("secondary down") : 2, tryNextOnFailure: true),
                    FallbackLevel<int>.FromValue("cache", 3),
                },
            };
            _pipeline = new ResiliencePipelineBuilder<int> { Name = Name, TimeProvider = _time }
                .AddTelemetry(telemetry)
                .AddFallback(fallback, static o => o.Exception is FallbackException)
                .AddRetry(new RetryOptions { Name = "retry", MaxRetryAttempts = 2, Delay = TimeSpan.Zero, UseJitter = false, Budget = budget }, static o => o.Exception is IOException or TimeoutRejectedException)
                .AddCircuitBreaker(breaker, static o => o.Exception is not null)
                .AddRateLimiter(_limiter, name: $"{Name}/limiter")
                .AddTimeout(new TimeoutOptions { Name = "timeout", Timeout = TimeSpan.FromSeconds(1) })
                .Build();
        }

        public string Name { get; }

        public long Invocations;

        public System.Collections.Concurrent.ConcurrentBag<string> Outcomes { get; } = [];

        /// <summary>Makes one call, through the synchronous form when <paramref name="sync"/> and the kind never awaits.</summary>
        public async Task CallAsync(bool sync)
        {
            using var caller = new CancellationTokenSource();
            if (_kind is Kind.CancelledBeforeStart)
            {
                await caller.CancelAsync();
            }

            var attempt = 0;
            int Attempt(Kind kind, CancellationToken ct)
            {
                Interlocked.Increment(ref Invocations);
                attempt++;
                switch (kind)
                {
                    case Kind.Transient when attempt == 1:
                    case Kind.Exhausted:
                    case Kind.BudgetRefused:
                        throw new IOException("transient");
                    case Kind.Unhandled:
                        throw new InvalidOperationException("bug");
                    case Kind.ServedBySecondary or Kind.ServedByCache:
                        throw new FallbackException();
                    case Kind.CancelledInCallback:
                        caller.Cancel();
                        ct.ThrowIfCancellationRequested();
                        break;
                }

                return 1;
            }

            Outcome<int> outcome;
            if (sync && _kind is not (Kind.TimedOut or Kind.CancelledDuringTimeout))
            {
                outcome = _pipeline.ExecuteOutcome(Attempt, _kind, caller.Token);
            }
            else
            {
                outcome = await _pipeline.ExecuteOutcomeAsync(
                    async (kind, ct) =>
                    {
                        switch (kind)
                        {
                            case Kind.TimedOut:
                                Interlocked.Increment(ref Invocations);

                                // Past this attempt's timeout (and that of any other call in flight here: they all time out).
                                _time.Advance(TimeSpan.FromSeconds(2));
                                await Task.Delay(System.Threading.Timeout.Infinite, ct);
                                return 1;
                            case Kind.CancelledDuringTimeout:
                                Interlocked.Increment(ref Invocations);
                                await caller.CancelAsync();
                                await Task.Delay(System.Threading.Timeout.Infinite, ct);
                                return 1;
                            default:
                                return Attempt(kind, ct);
                        }
                    },
                    _kind,
                    caller.Token);
            }

            Outcomes.Add(outcome.IsRejected ? "rejected"
                : outcome.Exception is OperationCanceledException && caller.IsCancellationRequested ? "cancelled"
                : outcome.Exception is null ? "success"
                : "failure");
        }

        public async Task DisposeAsync()
        {
            _held.ForEach(lease => lease.Dispose());
            _limiter.Dispose();
            if (_parked is not null)
            {
                (await _parked).Dispose();
            }
        }
    }
}
