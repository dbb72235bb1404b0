namespace Resilience.Tests.Linearizability;

/// <summary>
/// The concurrency limiter without a queue as docs/rate-limiting.md describes it, one operation at a time: a request
/// is granted while its permits fit under the limit with those in use; a lease disposed gives its permits back once;
/// a lowered limit lets the permits in use stay and admits no one until they fit under it. The answer of an operation
/// is a number: 1 or 0 for granted or not, the available permits for statistics, 0 otherwise.
/// </summary>
internal sealed class InFlightLimiterModel : ISequentialModel<InFlightState, InFlightCall, long>
{
    public bool TryApply(InFlightState state, InFlightCall call, long observed, out InFlightState next)
    {
        next = state;
        var lease = 1UL << call.Lease;
        switch (call.Kind)
        {
            case InFlightCallKind.Acquire:
                var granted = state.InUse + call.Permits <= state.Limit;
                if (granted)
                {
                    next = state with { InUse = state.InUse + call.Permits, Held = state.Held | lease };
                }

                return observed == (granted ? 1 : 0);

            case InFlightCallKind.Release:
                if ((state.Held & lease) != 0)
                {
                    next = state with { InUse = state.InUse - call.Permits, Held = state.Held & ~lease };
                }

                return observed == 0;

            case InFlightCallKind.Statistics:
                return observed == Math.Max(0, state.Limit - state.InUse);

            default:
                next = state with { Limit = call.Permits };
                return observed == 0;
        }
    }
}
