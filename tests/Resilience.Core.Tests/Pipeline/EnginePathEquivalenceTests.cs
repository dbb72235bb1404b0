namespace Resilience.Tests.Pipeline;

/// <summary>
/// Short pipelines run on the fast path's inline slots, long ones on the general interpreter from the start: the same
/// strategies, scripted at random, must behave the same way on both, and each strategy must find its state and token
/// intact on exit.
/// </summary>
public class EnginePathEquivalenceTests
{
    private const int Scenarios = 400;

    [Fact]
    public async Task Random_scripts_behave_the_same_on_short_pipelines_and_padded_long_ones()
    {
        for (var seed = 0; seed < Scenarios; seed++)
        {
            var random = new Random(seed);
            var count = random.Next(1, 6);
            var log = new List<string>();
            var scripted = Enumerable.Range(0, count).Select(i => Scripted.Random(random, $"s{i}", log)).ToArray();
            var attempts = Enumerable.Range(0, 4).Select(_ => random.Next(4)).ToArray();
            var synchronous = random.Next(3) == 0;

            var shortBuilder = new ResiliencePipelineBuilder<string>();
            var longBuilder = new ResiliencePipelineBuilder<string>();
            foreach (var strategy in scripted)
            {
                shortBuilder.AddStrategy(strategy);
                longBuilder.AddStrategy(strategy);
                for (var padding = random.Next(3); padding > 0; padding--)
                {
                    longBuilder.AddStrategy(new PassThrough());
                }
            }

            while (longBuilder.Strategies.Count <= SlotBuffer.Length)
            {
                longBuilder.AddStrategy(new PassThrough());
            }

            // The callback runs inside every strategy: it must receive the innermost replacement of the token.
            var expected = scripted.LastOrDefault(s => s.ReplacesToken)?.Token ?? CancellationToken.None;
            var shortRun = await Run(shortBuilder.Build(), attempts, synchronous, expected, log);
            var longRun = await Run(longBuilder.Build(), attempts, synchronous, expected, log);

            Assert.True(shortRun == longRun, $"seed {seed}:\n{shortRun}\n---\n{longRun}");
            Assert.DoesNotContain("mismatch", shortRun, StringComparison.Ordinal);
        }
    }

    private static async Task<string> Run(ResiliencePipeline<string> pipeline, int[] attempts, bool synchronous, CancellationToken expected, List<string> log)
    {
        log.Clear();
        var attempt = 0;
        Outcome<string> outcome;
        if (synchronous)
        {
            outcome = pipeline.ExecuteOutcome((_, token) => Attempt(attempts[Math.Min(attempt++, attempts.Length - 1)], token == expected, log) is var (value, failure) && failure is null ? value : throw failure, 0);
        }
        else
        {
            outcome = await pipeline.ExecuteOutcomeAsync(async (_, token) =>
            {
                var (value, failure) = Attempt(attempts[Math.Min(attempt++, attempts.Length - 1)], token == expected, log);
                if (value == "later")
                {
                    await Task.Yield();
                }

                return failure is null ? value : throw failure;
            }, 0);
        }

        var described = outcome.IsRejected ? $"rejected by {outcome.Rejection.Strategy!.Name}"
            : outcome.Exception is { } exception ? $"{exception.GetType().Name} {exception.Message}"
            : $"result {outcome.Result} level {outcome.FallbackLevel}";
        return string.Join("\n", log.Append(described));
    }

    private static (string Value, Exception? Failure) Attempt(int kind, bool expectedToken, List<string> log)
    {
        log.Add($"call {kind}{(expectedToken ? string.Empty : " mismatch")}");
        return kind switch
        {
            0 => ("ok", null),
            1 => ("later", null),
            2 => (string.Empty, new IOException("callback")),
            _ => (string.Empty, new OperationCanceledException("other token")),
        };
    }

    private sealed class PassThrough : ResilienceStrategy
    {
    }

    private sealed class Scripted : ResilienceStrategy
    {
        private readonly List<string> _log;
        private readonly CancellationTokenSource _own = new();
        private readonly object _marker = new();
        private int _enterKind;
        private int _exitKind;
        private bool _replacesToken;
        private CancellationToken _incoming;
        private int _retries;

        private Scripted(string name, List<string> log)
            : base(name)
        {
            _log = log;
        }

        public static Scripted Random(Random random, string name, List<string> log) => new(name, log)
        {
            _enterKind = random.Next(11),
            _exitKind = random.Next(11),
            _replacesToken = random.Next(2) == 0,
            _retries = random.Next(1, 3),
        };

        public bool ReplacesToken => _replacesToken;

        public CancellationToken Token => _own.Token;

        protected internal override Entry Enter(ref StrategyContext context)
        {
            _log.Add($"enter {Name}");
            _incoming = context.CancellationToken;
            if (_replacesToken)
            {
                context.CancellationToken = _own.Token;
            }

            context.State = 1;
            context.StateObject = _marker;
            return _enterKind switch
            {
                0 => Entry.Reject(RejectionReason.Custom),
                1 => throw new FormatException($"enter {Name}"),
                2 => Entry.Pending(Task.FromResult(Entry.Admitted)),
                3 => Entry.Admit(_marker),
                4 => Entry.Pending(AdmitLater()),
                _ => Entry.Admitted,
            };
        }

        protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
        {
            // State counts this strategy's retries from 1: it is not re-entered when it retries.
            var intact = context.State >= 1 && ReferenceEquals(context.StateObject, _marker)
                && (!_replacesToken || context.CancellationToken == _own.Token);
            var seen = outcome.IsRejected ? $"rejected by {outcome.Rejection.Strategy!.Name}"
                : outcome.Exception is { } exception ? $"{exception.GetType().Name} {exception.Message} handled {outcome.IsHandled}"
                : "success";
            _log.Add($"exit {Name}: {seen}{(intact ? string.Empty : " mismatch")}");
            var failed = outcome.IsHandled || outcome.IsRejected;
            switch (_exitKind)
            {
                case 0:
                    return ExitAction.Fail(new TimeoutException($"fail {Name}"));
                case 1 or 2 when failed && context.State++ <= _retries:
                    return ExitAction.Retry(TimeSpan.Zero);
                case 3 or 5 when failed:
                    return ExitAction.Fallback;
                case 4:
                    throw new ArithmeticException($"exit {Name}");
                default:
                    return ExitAction.Continue;
            }
        }

        protected internal override ValueTask<Outcome<TResult>> ProvideFallbackAsync<TResult, TState>(
            Outcome<TResult> outcome, TState state, string? pipelineName, CancellationToken cancellationToken)
        {
            // The fallback runs outside this strategy: it must receive the token this strategy was entered with.
            _log.Add($"fallback {Name}{(cancellationToken == _incoming ? string.Empty : " mismatch")}");
            var served = (Outcome<TResult>)(object)Outcome.FromResult($"from {Name}");
            return _exitKind == 5 ? ServeLater(served) : new(served);

            static async ValueTask<Outcome<TResult>> ServeLater(Outcome<TResult> served)
            {
                await Task.Yield();
                return served;
            }
        }

        private static async Task<Entry> AdmitLater()
        {
            await Task.Yield();
            return Entry.Admitted;
        }
    }
}
