using Grpc.Core;

namespace Resilience.Grpc;

/// <summary>
/// The request stream of a streaming call admitted through a pipeline: writes wait for the admission, then write to the
/// channel's stream as it is (a refused call's writes fail with the refusal's status).
/// </summary>
internal sealed class AdmittedRequestStream<TCall, TRequest> : IClientStreamWriter<TRequest>
    where TCall : class
{
    private readonly StreamAttempt<TCall> _attempt;
    private readonly Func<TCall, IClientStreamWriter<TRequest>> _writerOf;
    private IClientStreamWriter<TRequest>? _writer;
    private WriteOptions? _writeOptions;
    private bool _writeOptionsSet;

    /// <param name="attempt">The call's attempt.</param>
    /// <param name="writerOf">Returns the channel call's request stream (static: no delegate per call).</param>
    /// <param name="writeOptions">The call's write options, which the channel's request stream starts with.</param>
    public AdmittedRequestStream(StreamAttempt<TCall> attempt, Func<TCall, IClientStreamWriter<TRequest>> writerOf, WriteOptions? writeOptions)
    {
        _attempt = attempt;
        _writerOf = writerOf;
        _writeOptions = writeOptions;
    }

    /// <inheritdoc />
    public WriteOptions? WriteOptions
    {
        get => _writer is { } writer ? writer.WriteOptions : _writeOptions;
        set
        {
            // Set before the call is opened, they are handed on when it is.
            _writeOptions = value;
            _writeOptionsSet = true;
            if (_writer is { } writer)
            {
                writer.WriteOptions = value;
            }
        }
    }

    /// <inheritdoc />
    public async Task WriteAsync(TRequest message) => await (await WriterAsync(CancellationToken.None).ConfigureAwait(false)).WriteAsync(message).ConfigureAwait(false);

    /// <inheritdoc />
    public async Task WriteAsync(TRequest message, CancellationToken cancellationToken) =>
        await (await WriterAsync(cancellationToken).ConfigureAwait(false)).WriteAsync(message, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public async Task CompleteAsync() => await (await WriterAsync(CancellationToken.None).ConfigureAwait(false)).CompleteAsync().ConfigureAwait(false);

    private async ValueTask<IClientStreamWriter<TRequest>> WriterAsync(CancellationToken cancellationToken)
    {
        if (_writer is { } writer)
        {
            return writer;
        }

        writer = _writerOf(await _attempt.OpenedAsync(cancellationToken).ConfigureAwait(false));
        if (_writeOptionsSet)
        {
            writer.WriteOptions = _writeOptions;
        }

        _writer = writer;
        return writer;
    }
}
