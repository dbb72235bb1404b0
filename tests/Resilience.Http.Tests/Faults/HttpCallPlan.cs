using System.Globalization;

namespace Resilience.Http.Tests.Faults;

/// <summary>
/// One call of a soak run: its id and the fault the server plays for each of its attempts (the last one for any attempt
/// beyond the list), carried to the server in the request's headers; and, for some calls, how long after its start the
/// caller cancels it (whatever it is doing then: waiting for a permit, in an attempt, between attempts); and whether it
/// is sent with the synchronous <see cref="HttpClient.Send(HttpRequestMessage, CancellationToken)"/> (over HTTP/1.1,
/// which the transport sends synchronously).
/// </summary>
internal sealed record HttpCallPlan(int Id, IReadOnlyList<HttpFault> Faults, TimeSpan? CancelAfter = null, bool Synchronous = false)
{
    public const string CallHeader = "X-Soak-Call";
    public const string FaultsHeader = "X-Soak-Faults";

    /// <summary>The fault of attempt <paramref name="number"/> (1 for the first).</summary>
    public HttpFault FaultOf(int number) => Faults[Math.Min(number, Faults.Count) - 1];

    /// <summary>Whether the caller's token is cancelled by the server during one of its attempts.</summary>
    public bool MayBeCancelled => CancelAfter is not null || Faults.Contains(HttpFault.Hang);

    /// <summary>Writes the plan into a request.</summary>
    public void Stamp(HttpRequestMessage request)
    {
        request.Headers.TryAddWithoutValidation(CallHeader, Id.ToString(CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation(FaultsHeader, string.Join(',', Faults));
    }

    /// <summary>Reads the fault list of a request's <see cref="FaultsHeader"/>.</summary>
    public static IReadOnlyList<HttpFault> ParseFaults(string header) =>
        header.Split(',').Select(static name => Enum.Parse<HttpFault>(name)).ToArray();

    /// <summary>
    /// Draws <paramref name="calls"/> plans from <paramref name="seed"/>: each of up to <paramref name="attempts"/> faults,
    /// drawn from <paramref name="faults"/> with the weights given; one in <paramref name="cancelShare"/> (none for 0)
    /// cancelled by its caller within 40 ms of its start; one in four synchronous.
    /// </summary>
    public static IReadOnlyList<HttpCallPlan> Draw(int seed, int calls, int attempts, int cancelShare, params (HttpFault Fault, int Weight)[] faults)
    {
        var random = new Random(seed);
        var total = faults.Sum(static f => f.Weight);
        HttpFault Next()
        {
            var pick = random.Next(total);
            foreach (var (fault, weight) in faults)
            {
                if ((pick -= weight) < 0)
                {
                    return fault;
                }
            }

            throw new InvalidOperationException("Unreachable.");
        }

        var plans = new HttpCallPlan[calls];
        for (var id = 0; id < calls; id++)
        {
            var drawn = new HttpFault[1 + random.Next(attempts)];
            for (var i = 0; i < drawn.Length; i++)
            {
                drawn[i] = Next();
            }

            var cancelAfter = cancelShare > 0 && random.Next(cancelShare) == 0 ? TimeSpan.FromMilliseconds(random.Next(40)) : (TimeSpan?)null;
            plans[id] = new HttpCallPlan(id, drawn, cancelAfter, random.Next(4) == 0);
        }

        return plans;
    }
}
