using System.Globalization;
using Grpc.Core;

namespace Resilience.Grpc.Tests.Faults;

/// <summary>
/// One call of a soak run: its id, kind, and the fault the server plays for each of its attempts (the last one for any
/// attempt beyond the list; a stream has one attempt), carried to the server in the call's request headers; and, for
/// some calls, how long after its start the caller cancels it, or its deadline passes (whatever it is doing then:
/// waiting for a permit, in an attempt, between attempts, reading a stream).
/// </summary>
internal sealed record GrpcCallPlan(int Id, GrpcCallKind Kind, IReadOnlyList<GrpcFault> Faults, TimeSpan? CancelAfter = null, TimeSpan? Deadline = null)
{
    public const string CallHeader = "x-soak-call";
    public const string FaultsHeader = "x-soak-faults";
    public const string AttemptHeader = "x-soak-attempt";

    /// <summary>The fault of attempt <paramref name="number"/> (1 for the first).</summary>
    public GrpcFault FaultOf(int number) => Faults[Math.Min(number, Faults.Count) - 1];

    /// <summary>Whether the caller's token is cancelled by the server during one of its attempts.</summary>
    public bool MayBeCancelled => CancelAfter is not null || (IsUnary ? Faults.Contains(GrpcFault.Hang) : Faults[0] == GrpcFault.Hang);

    /// <summary>Whether the call is unary (blocking or not): retried, one attempt per fault.</summary>
    public bool IsUnary => Kind is GrpcCallKind.Unary or GrpcCallKind.BlockingUnary;

    /// <summary>The call's request headers: its id and faults.</summary>
    public Metadata Headers() => new()
    {
        { CallHeader, Id.ToString(CultureInfo.InvariantCulture) },
        { FaultsHeader, string.Join(',', Faults) },
    };

    /// <summary>Reads the plan and the attempt number (0 when missing or not one number) a call's headers carry.</summary>
    public static (GrpcCallPlan Plan, int Attempt) Of(Metadata headers)
    {
        var id = int.Parse(headers.GetValue(CallHeader)!, CultureInfo.InvariantCulture);
        var faults = headers.GetValue(FaultsHeader)!.Split(',').Select(static name => Enum.Parse<GrpcFault>(name)).ToArray();
        var attempts = headers.Where(static entry => entry.Key == AttemptHeader).ToArray();
        var attempt = attempts.Length == 1 && int.TryParse(attempts[0].Value, CultureInfo.InvariantCulture, out var number) ? number : 0;
        return (new GrpcCallPlan(id, GrpcCallKind.Unary, faults), attempt);
    }

    /// <summary>
    /// Draws <paramref name="calls"/> plans from <paramref name="seed"/>: one in <paramref name="streamShare"/> a stream
    /// (of a kind drawn evenly, with one fault from <paramref name="streamFaults"/>), the others unary, each with up to
    /// <paramref name="attempts"/> faults drawn from <paramref name="unaryFaults"/> with the weights given (one in six of
    /// them blocking); one in
    /// <paramref name="cancelShare"/> (none for 0) cancelled by its caller within 40 ms of its start, and one in
    /// <paramref name="deadlineShare"/> (none for 0) given a deadline 20 to 200 ms after its start.
    /// </summary>
    public static IReadOnlyList<GrpcCallPlan> Draw(
        int seed,
        int calls,
        int attempts,
        int streamShare,
        (GrpcFault Fault, int Weight)[] unaryFaults,
        (GrpcFault Fault, int Weight)[] streamFaults,
        int cancelShare = 0,
        int deadlineShare = 0)
    {
        var random = new Random(seed);
        GrpcFault Next((GrpcFault Fault, int Weight)[] faults)
        {
            var pick = random.Next(faults.Sum(static f => f.Weight));
            foreach (var (fault, weight) in faults)
            {
                if ((pick -= weight) < 0)
                {
                    return fault;
                }
            }

            throw new InvalidOperationException("Unreachable.");
        }

        var plans = new GrpcCallPlan[calls];
        for (var id = 0; id < calls; id++)
        {
            if (random.Next(streamShare) == 0)
            {
                var kind = (GrpcCallKind)(2 + random.Next(6));
                plans[id] = new GrpcCallPlan(id, kind, [Next(streamFaults)]);
            }
            else
            {
                var count = 1 + random.Next(attempts);
                var faults = new GrpcFault[count];
                for (var i = 0; i < count; i++)
                {
                    faults[i] = Next(unaryFaults);
                }

                plans[id] = new GrpcCallPlan(id, random.Next(6) == 0 ? GrpcCallKind.BlockingUnary : GrpcCallKind.Unary, faults);
            }

            if (cancelShare > 0 && random.Next(cancelShare) == 0)
            {
                plans[id] = plans[id] with { CancelAfter = TimeSpan.FromMilliseconds(random.Next(40)) };
            }

            if (deadlineShare > 0 && random.Next(deadlineShare) == 0)
            {
                plans[id] = plans[id] with { Deadline = TimeSpan.FromMilliseconds(20 + random.Next(180)) };
            }
        }

        return plans;
    }
}
