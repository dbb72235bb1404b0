using System.Runtime.CompilerServices;

namespace Resilience;

/// <summary>
/// Replaces a failed call (a failure by its predicate, a timeout, an open circuit, a limiter's rejection) with the result
/// of the first level of a degradation chain that succeeds: a secondary endpoint, the last good value, a default.
/// Never runs for the caller's own cancellation. The outcome tells which level served (<see cref="Outcome{T}.FallbackLevel"/>).
/// </summary>
/// <typeparam name="T">The result type; fallbacks belong to typed pipelines.</typeparam>
/// <remarks>
/// An exception thrown by a level surfaces as itself, with the failure it was replacing attached in its
/// <see cref="Exception.Data"/> under <see cref="OriginalFailureKey"/>; the next level is tried only when the failing
/// level says so (<see cref="FallbackLevel{T}.TryNextOnFailure"/>).
/// </remarks>
public sealed class FallbackStrategy<T> : ResilienceStrategy
{
    /// <summary>The <see cref="Exception.Data"/> key under which a failing level's exception carries the original failure.</summary>
    public const string OriginalFailureKey = "Resilience.OriginalFailure";

    private readonly FallbackLevel<T>[] _levels;
    private readonly bool _handleRejections;
    private readonly Action<FallbackServed>? _onServed;

    /// <summary>Initializes a new instance.</summary>
    /// <param name="options">The options.</param>
    /// <exception cref="ArgumentException">There is no level.</exception>
    public FallbackStrategy(FallbackOptions<T> options)
        : base("Fallback")
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _levels = [.. options.Levels];
        _handleRejections = options.HandleRejections;
        _onServed = options.OnServed;
        ObservesResults = _levels.Any(level => level.Recorder is not null);
    }

    /// <inheritdoc />
    internal override bool ShapesAttempts => true;

    /// <summary>Gets the levels, in the order they are tried.</summary>
    public IReadOnlyList<FallbackLevel<T>> Levels => _levels;

    /// <inheritdoc />
    /// <remarks>
    /// Once the caller has cancelled, no level runs, whatever the failure: a callback cut short by its caller may end with
    /// another exception than the cancellation (a connection aborted midway), and a level (another endpoint) would do
    /// work nobody waits for. A retry stops the same way.
    /// </remarks>
    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome) =>
        (outcome.IsHandled || (outcome.IsRejected && _handleRejections)) && !context.CallerCancellationToken.IsCancellationRequested
            ? ExitAction.Fallback
            : ExitAction.Continue;

    /// <inheritdoc />
    protected internal override void ObserveResult<TResult, TState>(TResult result, TState state)
    {
        // Added to a pipeline of another result type (through AddStrategy), a result is not a T: reinterpreting it would
        // store its bits as a T (a long as a string reference). Such a pipeline's fallback fails when it runs.
        if (typeof(TResult) != typeof(T))
        {
            return;
        }

        var value = Unsafe.As<TResult, T>(ref result);
        var boxed = StateOf(state);
        foreach (var level in _levels)
        {
            level.Recorder?.Invoke(value, boxed);
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// Synchronous while the levels complete without waiting (a value, a cache): no async state machine is started
    /// unless a level waits, since a fallback serving every call of a breaker held open is this strategy's hot path.
    /// </remarks>
    protected internal override ValueTask<Outcome<TResult>> ProvideFallbackAsync<TResult, TState>(Outcome<TResult> outcome, TState state, string? pipelineName, CancellationToken cancellationToken)
    {
        if (typeof(TResult) != typeof(T))
        {
            throw new InvalidOperationException($"A fallback for {typeof(T).Name} ran in a call returning {typeof(TResult).Name}; add fallbacks to a ResiliencePipelineBuilder<{typeof(T).Name}>.");
        }

        var chain = new Chain<TState>(Unsafe.As<Outcome<TResult>, Outcome<T>>(ref outcome), state, pipelineName, cancellationToken);
        return Serve<TResult, TState>(ref chain, 0);
    }

    /// <summary>Tries the levels from <paramref name="index"/> on, without waiting until one does.</summary>
    /// <remarks>
    /// The chain goes by reference and the outcome comes out through one variable: copies of structs just written field
    /// by field (vector loads over narrower stores) stall the processor's store forwarding, several times a call.
    /// </remarks>
    private ValueTask<Outcome<TResult>> Serve<TResult, TState>(ref Chain<TState> chain, int index)
    {
        for (; index < _levels.Length; index++)
        {
            T value = default!;
            Exception? exception = null;
            try
            {
                // A level that completed is read in place: awaiting a faulted task would throw its exception again, a cost
                // the non-throwing forms exist to avoid.
                var produced = _levels[index].Action(chain.Arguments(_levels[index], index));
                if (produced.IsCompletedSuccessfully)
                {
                    value = produced.Result;
                }
                else if (produced.IsFaulted)
                {
                    exception = produced.AsTask().Exception!.InnerExceptions[0];
                }
                else
                {
                    return ServeAfter<TResult, TState>(chain, index, produced);
                }
            }
            catch (Exception thrown)
            {
                exception = thrown;
            }

            if (Settle(ref chain, index, value, exception, out var settled))
            {
                return new(Unsafe.As<Outcome<T>, Outcome<TResult>>(ref settled));
            }
        }

        throw new InvalidOperationException("A fallback chain has at least one level.");
    }

    /// <summary>Waits for a level that did not complete at once, then goes on as <see cref="Serve"/> does.</summary>
    private async ValueTask<Outcome<TResult>> ServeAfter<TResult, TState>(Chain<TState> chain, int index, ValueTask<T> produced)
    {
        T value = default!;
        Exception? exception = null;
        try
        {
            value = await produced.ConfigureAwait(false);
        }
        catch (Exception thrown)
        {
            exception = thrown;
        }

        if (Settle(ref chain, index, value, exception, out var settled))
        {
            return Unsafe.As<Outcome<T>, Outcome<TResult>>(ref settled);
        }

        return await Serve<TResult, TState>(ref chain, index + 1).ConfigureAwait(false);
    }

    /// <summary>
    /// Decides what a level's value or exception makes of the call: its outcome, or <see langword="false"/> when the
    /// next level is to be tried (<paramref name="chain"/> then carries the level's failure).
    /// </summary>
    private bool Settle<TState>(ref Chain<TState> chain, int index, T value, Exception? exception, out Outcome<T> outcome)
    {
        var level = _levels[index];
        var cancellationToken = chain.CancellationToken;
        if (exception is not null)
        {
            if (exception is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                outcome = Failed<T>(exception);
                return true;
            }

            // A level that rethrows the original failure surfaces it as it was: attached to itself, it would be a
            // cycle for whatever walks an exception's data (a serializer, a log enricher). A rejection becomes one
            // exception here, attached to every level that fails.
            var original = chain.Original();
            if (original is not null && !ReferenceEquals(exception, original) && !exception.Data.Contains(OriginalFailureKey))
            {
                exception.Data[OriginalFailureKey] = original;
            }

            // Once the call is cancelled from outside (its caller, an outer timeout), the next level would do work
            // nobody waits for, as the first would have: a level cut short may fail with its own error, not the cancellation.
            // The failure is returned, not rethrown: the engine takes either as the outcome.
            if (!level.TryNextOnFailure || index == _levels.Length - 1 || cancellationToken.IsCancellationRequested)
            {
                outcome = Failed<T>(exception);
                return true;
            }

            chain.Failure = Outcome.FromException<T>(exception);
            outcome = default;
            return false;
        }

        // Outside the level's try: the level served, and a failing handler must not send the chain on to the next.
        if (_onServed is { } onServed)
        {
            try
            {
                onServed(new FallbackServed(chain.PipelineName, index, level.Name, chain.OriginalException, chain.Rejection));
            }
            catch (Exception handlerFailure)
            {
                // The handler's exception is the outcome: the value served never reaches the caller. (The result it
                // replaced, which a level may serve again, is the engine's to dispose.)
                if (value is IDisposable disposable && !ReferenceEquals(value, chain.Replaced))
                {
                    DisposeUnserved(disposable);
                }

                outcome = Failed<T>(handlerFailure);
                return true;
            }
        }

        outcome = new Outcome<T>(value, index);
        return true;
    }

    private static Outcome<TResult> Failed<TResult>(Exception exception) => new(exception);

    private static object? StateOf<TState>(TState state) => state is NoState ? null : state;

    /// <summary>Where a chain stands: the failure the next level replaces, and what the first one replaced.</summary>
    private struct Chain<TState>(Outcome<T> failure, TState state, string? pipelineName, CancellationToken cancellationToken)
    {
        private readonly TState _state = state;
        private object? _boxed;
        private bool _boxedSet;

        /// <summary>Gets or sets the failure the next level replaces: the call's, then a failed level's.</summary>
        public Outcome<T> Failure { get; set; } = failure;

        /// <summary>Gets the rejection the chain replaces, if the call was rejected (kept a value: see <see cref="Original"/>).</summary>
        public Rejection Rejection { get; } = failure.Rejection;

        /// <summary>Gets the call's exception, or the rejection's once <see cref="Original"/> made it.</summary>
        public Exception? OriginalException { get; private set; } = failure.RawException;

        /// <summary>Gets the result the chain replaces (a result judged a failure), which a level may serve again.</summary>
        public T? Replaced { get; } = failure.Result;

        public string? PipelineName { get; } = pipelineName;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        /// <summary>
        /// Gets the original failure as an exception, to attach to a level that failed: a rejection's is made once,
        /// here, and only then (a breaker held open must not make one per call the fallback serves).
        /// </summary>
        public Exception? Original()
        {
            if (OriginalException is null && Rejection.Strategy is not null)
            {
                OriginalException = Rejection.ToException();
            }

            return OriginalException;
        }

        /// <summary>The arguments of a level; the caller's state is boxed only for a level that may read it.</summary>
        public FallbackArguments<T> Arguments(FallbackLevel<T> level, int index)
        {
            if (level.ReadsState && !_boxedSet)
            {
                _boxed = StateOf(_state);
                _boxedSet = true;
            }

            return new FallbackArguments<T>(Failure, _boxed, index, CancellationToken);
        }
    }

    /// <summary>Disposes a served value that does not reach the caller; a failure to do so is not the call's outcome.</summary>
    private static void DisposeUnserved(IDisposable value)
    {
        try
        {
            value.Dispose();
        }
        catch (Exception)
        {
            // Deliberately ignored: the handler's exception is what the caller sees.
        }
    }
}
