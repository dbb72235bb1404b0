using System.Runtime.ExceptionServices;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Resilience.Grpc;

/// <summary>
/// One streaming client call through a pipeline, as a single attempt
/// (<see cref="ResiliencePipeline.ExecuteSingleAttemptOutcomeAsync{TResult, TState}"/>): the pipeline admits it (a
/// breaker, a limiter), the call on the channel is opened, and the pipeline's callback completes when the stream ends,
/// so a limiter's permit is held for the stream's life and the breaker judges the call by its final status. The caller
/// sees the channel's call as it is, or the refusal's status when the pipeline refused it.
/// </summary>
/// <typeparam name="TCall">The channel's call: <see cref="AsyncServerStreamingCall{TResponse}"/>, <see cref="AsyncClientStreamingCall{TRequest, TResponse}"/> or <see cref="AsyncDuplexStreamingCall{TRequest, TResponse}"/>.</typeparam>
internal abstract class StreamAttempt<TCall>
    where TCall : class
{
    private readonly CallOptions _options;

    // Disposing the call is the caller's way to cancel it, and ending a read with its own token ends the call too.
    private readonly CancellationTokenSource _cancellation;
    private readonly CancellationToken _callerToken;

    // Completed when the call is opened or will never be; continuations run elsewhere, never inside the pipeline's callback.
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // The pipeline's callback: completed once, when the stream ends. Its continuation is the pipeline's exits (the
    // breaker's record, the permit's release), which then run as the stream ends, before the caller sees the end.
    private readonly TaskCompletionSource<bool> _ended = new();

    private TCall? _call;

    // The response headers, read once as gRPC's call reads its own: every read is the same task, whose failure is
    // observed here (gRPC observes its own), so a read the caller drops is not reported as unobserved.
    private Task<Metadata>? _headers;

    // The call's deadline. While the call waits for admission (a limiter's queue) it ends the wait: gRPC times an open
    // call's deadline, but never sees a call that is not yet opened. Once the call is open, gRPC ends it at its deadline,
    // and this one ends the pipeline's attempt with gRPC's status should nobody read that end (see EndPastDeadlineAsync).
    // Stopped when the stream ends.
    private readonly CallDeadline? _deadline;

    // Why the call was never opened: a refusal's status, the caller's cancellation or the deadline while it waited for
    // admission, or the channel's failure to start it.
    private Exception? _notOpened;
    private Task? _run;
    private int _disposed;
    private int _released;

    // Whether the call was admitted before its deadline passed, or the deadline passed first: only one of them wins.
    private const int Waiting = 0;
    private const int Admitted = 1;
    private const int Expired = 2;
    private int _admission;

    // How long, past an open stream's deadline, gRPC is given to report the call's status: 50 checks, 100 ms apart.
    private const int DeadlineChecks = 50;
    private static readonly TimeSpan DeadlineCheckInterval = TimeSpan.FromMilliseconds(100);

    protected StreamAttempt(CallOptions options)
    {
        _options = options;
        _cancellation = CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken);
        _callerToken = _cancellation.Token;
        _deadline = CallDeadline.Of(options.Deadline);

        // A deadline already past cancels at once, here: the call then never waits nor opens.
        _deadline?.Token.UnsafeRegister(static state => ((StreamAttempt<TCall>)state!).OnDeadline(), this);
    }

    // The caller's call reads its headers, status and trailers and disposes itself through these, with the attempt as
    // their state: one delegate each per call type, none per call.
    protected static readonly Func<object, Task<Metadata>> HeadersOfAttempt = static state => ((StreamAttempt<TCall>)state).Headers();
    protected static readonly Func<object, Status> StatusOfAttempt = static state => ((StreamAttempt<TCall>)state).GetStatus();
    protected static readonly Func<object, Metadata> TrailersOfAttempt = static state => ((StreamAttempt<TCall>)state).GetTrailers();
    protected static readonly Action<object> DisposeAttempt = static state => ((StreamAttempt<TCall>)state).Dispose();

    /// <summary>Gets the call on the channel once it is opened.</summary>
    protected TCall? Call => Volatile.Read(ref _call);

    /// <summary>Opens the call on the channel with <paramref name="options"/>.</summary>
    protected abstract TCall Open(CallOptions options);

    /// <summary>Returns the call's response headers.</summary>
    protected abstract Task<Metadata> HeadersOf(TCall call);

    /// <summary>Returns the call's status.</summary>
    protected abstract Status StatusOf(TCall call);

    /// <summary>Returns the call's trailers.</summary>
    protected abstract Metadata TrailersOf(TCall call);

    /// <summary>Disposes the call.</summary>
    protected abstract void DisposeCall(TCall call);

    /// <summary>Starts admission; a refusal is known at once, a limiter's queue is waited for in the background.</summary>
    protected void Admit(ResiliencePipeline pipeline) => _run = RunAsync(pipeline);

    /// <summary>Waits until the call is opened, and returns it; throws why it was not (a refusal as its status).</summary>
    public async ValueTask<TCall> OpenedAsync(CancellationToken cancellationToken)
    {
        if (!_opened.Task.IsCompleted)
        {
            // A read or write cancelled while the call waits for admission cancels the call, as it would an open one.
            using var registration = cancellationToken.CanBeCanceled
                ? cancellationToken.UnsafeRegister(static state => ((StreamAttempt<TCall>)state!).ReleaseCancellation(cancel: true), this)
                : default;
            await _opened.Task.ConfigureAwait(false);
        }

        if (Call is { } call)
        {
            return call;
        }

        // Every read, write and response of a refused call fails: each with an exception of its own, whose stack trace
        // is its own (one instance thrown again and again would gather them all).
        if (_notOpened is RpcException refusal)
        {
            throw GrpcOutcomes.Copy(refusal);
        }

        ExceptionDispatchInfo.Throw(_notOpened!);
        return null!;
    }

    /// <summary>
    /// Ends the stream (its last message read, its failure) and waits for the pipeline to have recorded it. Only the
    /// first end counts.
    /// </summary>
    /// <param name="failure">The failure the stream ended with, or <see langword="null"/> for its end with OK.</param>
    /// <param name="cancellationToken">The token of the read or wait that saw the end: its cancellation is the caller's.</param>
    public Task EndAsync(Exception? failure, CancellationToken cancellationToken)
    {
        End(failure, cancellationToken);
        return _run ?? Task.CompletedTask;
    }

    /// <summary>The call's response headers: one task, however often the caller asks.</summary>
    private Task<Metadata> Headers() => CachedTask.Of(ref _headers, this, static attempt => attempt.HeadersAsync());

    /// <summary>The call's response headers, once it is opened; none when it never was (a refusal has no server headers).</summary>
    private async Task<Metadata> HeadersAsync()
    {
        await _opened.Task.ConfigureAwait(false);
        return Call is { } call ? await HeadersOf(call).ConfigureAwait(false) : [];
    }

    /// <summary>The call's status, or the refusal's when the pipeline refused it.</summary>
    protected Status GetStatus() =>
        Call is { } call ? StatusOf(call)
        : (_notOpened as RpcException)?.Status ?? throw CallNotCompleted.StatusUnknown();

    /// <summary>The call's trailers, or the refusal's (its retry pushback) when the pipeline refused it.</summary>
    protected Metadata GetTrailers() =>
        Call is { } call ? TrailersOf(call)
        : (_notOpened as RpcException)?.Trailers ?? throw CallNotCompleted.TrailersUnknown();

    /// <summary>The caller disposed the call: it is disposed (open) or cancelled (still waiting for admission) and ends as the caller's cancellation.</summary>
    protected void Dispose()
    {
        // Marked first: the response or a read that fails as the call is disposed is the caller's end.
        Interlocked.Exchange(ref _disposed, 1);
        if (Call is { } call)
        {
            // Disposed before its token is cancelled, the call ends as gRPC ends a disposed call ("gRPC call disposed.").
            DisposeCall(call);
        }

        ReleaseCancellation(cancel: true);
        End(new OperationCanceledException("The call was disposed.", _callerToken), default);
    }

    private async Task RunAsync(ResiliencePipeline pipeline)
    {
        Exception? failure;
        try
        {
            var outcome = await pipeline
                .ExecuteSingleAttemptOutcomeAsync(static (attempt, token) => attempt.OpenAndWatch(token), this, _callerToken)
                .ConfigureAwait(false);
            failure = outcome.IsSuccess ? null : outcome.Exception;
        }
        catch (Exception exception)
        {
            // A strategy's hook threw (its own fault, not the call's outcome): reads and writes must not wait for ever.
            failure = exception;
        }

        if (Call is null)
        {
            // Never opened: the refusal as gRPC callers expect it (a status), the caller's cancellation as Cancelled, the
            // deadline that passed while it waited as DeadlineExceeded.
            failure ??= new InvalidOperationException("The pipeline completed the call without opening it.");
            var expired = Volatile.Read(ref _admission) == Expired ? _deadline : null;
            _notOpened = GrpcOutcomes.EndedByCaller(failure, _callerToken, expired, _options.CancellationToken) ?? GrpcOutcomes.ToRpcException(failure);
        }

        _deadline?.Dispose();
        ReleaseCancellation(cancel: false);
        _opened.TrySetResult();
    }

    /// <summary>The pipeline's callback: opens the call with the pipeline's token, and completes when the stream ends.</summary>
    private ValueTask<bool> OpenAndWatch(CancellationToken cancellationToken)
    {
        if (_deadline is not null && Interlocked.CompareExchange(ref _admission, Admitted, Waiting) == Expired)
        {
            // Admitted as the deadline passed, which won: the call is not opened, and ends as the caller's
            // cancellation once the deadline's cancellation (under way on another thread) reaches the token.
            return ExpiredAsync();
        }

        var call = Open(_options.WithCancellationToken(cancellationToken));
        Interlocked.Exchange(ref _call, call);

        // Disposed while it was being admitted: the token has cancelled the call, and it is disposed here as the caller asked.
        if (Volatile.Read(ref _disposed) != 0)
        {
            DisposeCall(call);
        }

        _opened.TrySetResult();
        return new ValueTask<bool>(_ended.Task);
    }

    /// <summary>
    /// The deadline passed. While the call waits for admission, it ends the wait as the caller's cancellation would; once
    /// the call is open, see <see cref="EndPastDeadlineAsync"/>.
    /// </summary>
    private void OnDeadline()
    {
        if (Interlocked.CompareExchange(ref _admission, Expired, Waiting) == Waiting)
        {
            ReleaseCancellation(cancel: true);
        }
        else if (!_ended.Task.IsCompleted)
        {
            _ = EndPastDeadlineAsync();
        }
    }

    /// <summary>
    /// The deadline passed while the stream is open. gRPC ends the call itself, but a stream whose caller neither reads it
    /// to that end nor disposes it would never tell the pipeline, whose permits it would hold for ever. Once gRPC reports
    /// a status for the call, the attempt ends with it (<see cref="StatusCode.DeadlineExceeded"/>, the caller's bound,
    /// is neither a success nor a failure); a caller that reads later still sees the end gRPC gave the call.
    /// </summary>
    private async Task EndPastDeadlineAsync()
    {
        // gRPC times the deadline on a timer of its own: it is given a moment to end the call, then asked again at
        // intervals. The attempt is not ended before gRPC has a status (ending it as the caller's would cancel the call,
        // which would then end as Cancelled, not as its deadline) unless gRPC never reports one.
        // A stream that ended meanwhile (a read, a disposal) is left as it ended.
        for (var check = 0; check < DeadlineChecks; check++)
        {
            await Task.Delay(DeadlineCheckInterval).ConfigureAwait(false);
            if (_ended.Task.IsCompleted)
            {
                return;
            }

            if (CallStatus() is { } status)
            {
                End(status.StatusCode == StatusCode.OK ? null : new RpcException(status), default);
                return;
            }
        }

        if (!_ended.Task.IsCompleted)
        {
            End(new RpcException(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded")), default);
        }
    }

    private async ValueTask<bool> ExpiredAsync()
    {
        await Task.Delay(Timeout.InfiniteTimeSpan, _callerToken).ConfigureAwait(false);
        return false;
    }

    private void End(Exception? failure, CancellationToken cancellationToken)
    {
        if (failure is null)
        {
            _ended.TrySetResult(true);
            return;
        }

        if (EndedByCaller(failure, cancellationToken))
        {
            // The pipeline tells the caller's end from a failure by its token: it must be cancelled before the outcome is judged.
            ReleaseCancellation(cancel: true);
            failure = new OperationCanceledException(failure.Message, failure, _callerToken);
        }

        // Only an opened call's end is awaited (by the pipeline); a call disposed after it was refused, or after its
        // deadline passed in a queue, ends a task nobody awaits: its failure is observed here, or the runtime would
        // report it unobserved.
        if (_ended.TrySetException(failure))
        {
            _ = _ended.Task.Exception;
        }
    }

    /// <summary>
    /// Whether a stream's failure is its caller's doing: a cancellation (the call's token, a read's token) or disposal, or
    /// the call's own deadline, which ends a stream as it ends a unary call: neither a success nor a failure.
    /// </summary>
    private bool EndedByCaller(Exception failure, CancellationToken cancellationToken)
    {
        var statusCode = (failure as RpcException)?.StatusCode;
        if (_callerToken.IsCancellationRequested || cancellationToken.IsCancellationRequested || Volatile.Read(ref _disposed) != 0)
        {
            // gRPC may fail a call its caller cancelled with a status of its own making (a client stream cancelled as its
            // response headers arrive fails with Internal, "Error starting gRPC call", as the cancellation disposed the
            // response gRPC was about to read), while the call's status, the end gRPC saw first, is Cancelled.
            if (failure is OperationCanceledException || statusCode == StatusCode.Cancelled || CallStatusCode() == StatusCode.Cancelled)
            {
                return true;
            }
        }

        return statusCode == StatusCode.DeadlineExceeded && CallDeadline.HasPassedAt(_options.Deadline);
    }

    /// <summary>The opened call's status code, or <see langword="null"/> when it has none yet (or was never opened).</summary>
    private StatusCode? CallStatusCode() => CallStatus()?.StatusCode;

    /// <summary>The opened call's status, or <see langword="null"/> when it has none yet (or was never opened).</summary>
    private Status? CallStatus()
    {
        if (Call is not { } call)
        {
            return null;
        }

        try
        {
            return StatusOf(call);
        }
        catch (InvalidOperationException)
        {
            // Not complete: gRPC has no status for it yet.
            return null;
        }
    }

    /// <summary>Disposes the linked source once: when the call ends, or when the caller ends it first (which cancels it).</summary>
    private void ReleaseCancellation(bool cancel) => CallCancellation.Release(_cancellation, ref _released, cancel);
}
