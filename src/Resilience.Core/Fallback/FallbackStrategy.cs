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
    protected internal override async ValueTask<Outcome<TResult>> ProvideFallbackAsync<TResult, TState>(Outcome<TResult> outcome, TState state, string? pipelineName, CancellationToken cancellationToken)
    {
        if (typeof(TResult) != typeof(T))
        {
            throw new InvalidOperationException($"A fallback for {typeof(T).Name} ran in a call returning {typeof(TResult).Name}; add fallbacks to a ResiliencePipelineBuilder<{typeof(T).Name}>.");
        }

        var failure = Unsafe.As<Outcome<TResult>, Outcome<T>>(ref outcome);

        // A rejection stays a value unless a level fails and the original must be attached: serving every call of a
        // breaker held open must not make an exception per call.
        var rejection = failure.Rejection;
        var original = failure.RawException;
        var replaced = failure.Result;
        var boxed = StateOf(state);
        for (var index = 0; index < _levels.Length; index++)
        {
            var level = _levels[index];
            T value = default!;
            Exception? exception = null;
            try
            {
                // A level that completed is read in place: awaiting a faulted task would throw its exception again, a cost
                // the non-throwing forms exist to avoid.
                var produced = level.Action(new FallbackArguments<T>(failure, boxed, index, cancellationToken));
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
                    value = await produced.ConfigureAwait(false);
                }
            }
            catch (Exception thrown)
            {
                exception = thrown;
            }

            if (exception is not null)
            {
                if (exception is OperationCanceledException && cancellationToken.IsCancellationRequested)
                {
                    return Failed<TResult>(exception);
                }

                // A level that rethrows the original failure surfaces it as it was: attached to itself, it would be a
                // cycle for whatever walks an exception's data (a serializer, a log enricher). A rejection becomes one
                // exception here, attached to every level that fails.
                if (rejection.Strategy is not null && original is null)
                {
                    original = rejection.ToException();
                }

                if (original is not null && !ReferenceEquals(exception, original) && !exception.Data.Contains(OriginalFailureKey))
                {
                    exception.Data[OriginalFailureKey] = original;
                }

                // Once the call is cancelled from outside (its caller, an outer timeout), the next level would do work
                // nobody waits for, as the first would have: a level cut short may fail with its own error, not the cancellation.
                // The failure is returned, not rethrown: the engine takes either as the outcome.
                if (!level.TryNextOnFailure || index == _levels.Length - 1 || cancellationToken.IsCancellationRequested)
                {
                    return Failed<TResult>(exception);
                }

                failure = Outcome.FromException<T>(exception);
                continue;
            }

            // Outside the level's try: the level served, and a failing handler must not send the chain on to the next.
            if (_onServed is { } onServed)
            {
                try
                {
                    onServed(new FallbackServed(pipelineName, index, level.Name, original, rejection));
                }
                catch (Exception handlerFailure)
                {
                    // The handler's exception is the outcome: the value served never reaches the caller. (The result it
                    // replaced, which a level may serve again, is the engine's to dispose.)
                    if (value is IDisposable disposable && !ReferenceEquals(value, replaced))
                    {
                        DisposeUnserved(disposable);
                    }

                    return Failed<TResult>(handlerFailure);
                }
            }

            var served = new Outcome<T>(value, index);
            return Unsafe.As<Outcome<T>, Outcome<TResult>>(ref served);
        }

        throw new InvalidOperationException("A fallback chain has at least one level.");
    }

    private static Outcome<TResult> Failed<TResult>(Exception exception) => new(exception);

    private static object? StateOf<TState>(TState state) => state is NoState ? null : state;

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
