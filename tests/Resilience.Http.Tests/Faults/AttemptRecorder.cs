using System.Collections.Concurrent;
using System.Globalization;

namespace Resilience.Http.Tests.Faults;

/// <summary>
/// The handler between the <see cref="ResilienceHandler"/> and the network: numbers each attempt of a call in a header
/// the server reads (added to the attempt's own request, so a repeated attempt, a fresh copy of the caller's request,
/// must not carry the previous attempt's number), and records how each attempt ended.
/// </summary>
internal sealed class AttemptRecorder(Func<int, bool> callerCancelled) : DelegatingHandler(new SocketsHttpHandler())
{
    public const string AttemptHeader = "X-Soak-Attempt";

    private readonly ConcurrentDictionary<int, ConcurrentQueue<RecordedAttempt>> _attempts = new();
    private readonly ConcurrentDictionary<int, int> _numbers = new();

    /// <summary>The attempts of call <paramref name="id"/>, in the order they were sent.</summary>
    public IReadOnlyList<RecordedAttempt> AttemptsOf(int id) => _attempts.TryGetValue(id, out var attempts) ? attempts.ToArray() : [];

    /// <summary>Every attempt of every call.</summary>
    public int Total => _attempts.Values.Sum(static attempts => attempts.Count);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var (id, number) = Numbered(request);
        try
        {
            return Recorded(id, number, await base.SendAsync(request, cancellationToken));
        }
        catch (Exception exception)
        {
            Record(id, new RecordedAttempt(number, null, exception, callerCancelled(id)));
            throw;
        }
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var (id, number) = Numbered(request);
        try
        {
            return Recorded(id, number, base.Send(request, cancellationToken));
        }
        catch (Exception exception)
        {
            Record(id, new RecordedAttempt(number, null, exception, callerCancelled(id)));
            throw;
        }
    }

    private (int Id, int Number) Numbered(HttpRequestMessage request)
    {
        var id = int.Parse(request.Headers.GetValues(HttpCallPlan.CallHeader).Single(), CultureInfo.InvariantCulture);
        var number = _numbers.AddOrUpdate(id, 1, static (_, n) => n + 1);
        request.Headers.TryAddWithoutValidation(AttemptHeader, number.ToString(CultureInfo.InvariantCulture));
        return (id, number);
    }

    private HttpResponseMessage Recorded(int id, int number, HttpResponseMessage response)
    {
        Record(id, new RecordedAttempt(number, (int)response.StatusCode, null, false));
        return response;
    }

    private void Record(int id, RecordedAttempt attempt) => _attempts.GetOrAdd(id, static _ => new()).Enqueue(attempt);
}
