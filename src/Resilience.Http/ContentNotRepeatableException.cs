namespace Resilience.Http;

/// <summary>
/// A repeated attempt could not send the request's content again (a one-shot stream, already read by an earlier
/// attempt). It is the caller's mistake, not the dependency's failure: <see cref="HttpOutcomes.IsTransientFailure"/>
/// does not count it, so the retries end and the caller sees it as an <see cref="InvalidOperationException"/>.
/// </summary>
internal sealed class ContentNotRepeatableException(HttpRequestException inner) : InvalidOperationException(
    "A repeated attempt could not send the request's body: its content could not be read a second time. A request that "
    + "may be retried needs content that can be read more than once (StringContent, ByteArrayContent, a StreamContent "
    + "over a seekable stream, or any content after LoadIntoBufferAsync).",
    inner);
