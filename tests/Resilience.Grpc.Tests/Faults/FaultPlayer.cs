using Grpc.Core;

namespace Resilience.Grpc.Tests.Faults;

/// <summary>
/// Plays, on the <see cref="GrpcTestServer"/>, the fault a call's plan (in its request headers) gives the attempt
/// number the client stamped on it: a unary call's answer, or a stream's end.
/// </summary>
internal sealed class FaultPlayer(Action<int> cancelCaller)
{
    /// <summary>Answers a unary call, or fails it, as its plan says.</summary>
    public async Task<string> RespondAsync(string request, ServerCallContext context)
    {
        var (plan, attempt) = GrpcCallPlan.Of(context.RequestHeaders);
        switch (attempt == 0 ? GrpcFault.Ok : plan.FaultOf(attempt))
        {
            case GrpcFault.Ok:
                return request;
            case GrpcFault.Reset:
                return await GrpcTestServer.Reset(context);
            case GrpcFault.Slow:
                return await GrpcTestServer.Slow(context);
            case GrpcFault.Hang:
                cancelCaller(plan.Id);
                return await GrpcTestServer.Slow(context);
            case var fault:
                throw Failure(fault);
        }
    }

    /// <summary>Ends a stream (see <see cref="GrpcTestServer.StartAsync"/>'s <c>streamEnd</c>) as its plan says.</summary>
    public async Task EndStreamAsync(ServerCallContext context)
    {
        var (plan, _) = GrpcCallPlan.Of(context.RequestHeaders);
        switch (plan.Faults[0])
        {
            case GrpcFault.Ok:
                return;
            case GrpcFault.Reset:
                await GrpcTestServer.Reset(context);
                return;
            case GrpcFault.Slow:
                await GrpcTestServer.Slow(context);
                return;
            case GrpcFault.Hang:
                cancelCaller(plan.Id);
                await GrpcTestServer.Slow(context);
                return;
            case var fault:
                throw Failure(fault);
        }
    }

    private static RpcException Failure(GrpcFault fault) => fault switch
    {
        GrpcFault.InvalidArgument => GrpcTestServer.Status(StatusCode.InvalidArgument),
        GrpcFault.Unavailable => GrpcTestServer.Status(StatusCode.Unavailable),
        GrpcFault.Internal => GrpcTestServer.Status(StatusCode.Internal),
        GrpcFault.ResourceExhausted => Pushback("0"),
        GrpcFault.ResourceExhaustedForAnHour => Pushback("3600000"),
        _ => throw new ArgumentOutOfRangeException(nameof(fault), fault, null),
    };

    private static RpcException Pushback(string milliseconds) => new(
        new Status(StatusCode.ResourceExhausted, $"scripted {StatusCode.ResourceExhausted}"),
        new Metadata { { GrpcOutcomes.RetryPushbackTrailer, milliseconds } });
}
