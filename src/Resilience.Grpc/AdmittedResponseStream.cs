using Grpc.Core;

namespace Resilience.Grpc;

/// <summary>
/// The response stream of a streaming call admitted through a pipeline: reads wait for the admission, then read the
/// channel's stream as it is; its end (the last message read, a failure) ends the pipeline's attempt.
/// </summary>
internal sealed class AdmittedResponseStream<TCall, TResponse> : IAsyncStreamReader<TResponse>
    where TCall : class
{
    private readonly StreamAttempt<TCall> _attempt;
    private readonly Func<TCall, IAsyncStreamReader<TResponse>> _readerOf;
    private IAsyncStreamReader<TResponse>? _reader;

    /// <param name="attempt">The call's attempt.</param>
    /// <param name="readerOf">Returns the channel call's response stream (static: no delegate per call).</param>
    public AdmittedResponseStream(StreamAttempt<TCall> attempt, Func<TCall, IAsyncStreamReader<TResponse>> readerOf)
    {
        _attempt = attempt;
        _readerOf = readerOf;
    }

    /// <inheritdoc />
    public TResponse Current => _reader is { } reader ? reader.Current : throw new InvalidOperationException("No message has been read.");

    /// <inheritdoc />
    public async Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        var reader = _reader ??= _readerOf(await _attempt.OpenedAsync(cancellationToken).ConfigureAwait(false));
        bool more;
        try
        {
            more = await reader.MoveNext(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // The stream failed (or its reader cancelled it): the pipeline has judged it by the time the caller sees it.
            await _attempt.EndAsync(exception, cancellationToken).ConfigureAwait(false);
            throw;
        }

        if (!more)
        {
            await _attempt.EndAsync(null, cancellationToken).ConfigureAwait(false);
        }

        return more;
    }
}
