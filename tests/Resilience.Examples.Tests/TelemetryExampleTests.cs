namespace Resilience.Examples.Tests;

public class TelemetryExampleTests
{
    [Fact]
    public async Task The_listener_sees_calls_by_outcome_the_transition_the_rejections_and_the_gauges()
    {
        var output = await ExampleOutput.RunAsync("telemetry");

        Assert.Equal(
            [
                "resilience.circuit_breaker.failure_ratio {strategy=payments} = 0",
                "resilience.circuit_breaker.rejections {pipeline=checkout, reason=broken_circuit, strategy=payments} = 2",
                "resilience.circuit_breaker.state {strategy=payments} = 1",
                "resilience.circuit_breaker.transitions {from=closed, reason=failure_ratio, strategy=payments, to=open} = 1",
                "resilience.pipeline.calls {outcome=failure, pipeline=checkout} = 4",
                "resilience.pipeline.calls {outcome=rejected, pipeline=checkout} = 2",
                "resilience.pipeline.calls {outcome=success, pipeline=checkout} = 4",
                "resilience.pipeline.duration {outcome=failure, pipeline=checkout} = 4",
                "resilience.pipeline.duration {outcome=rejected, pipeline=checkout} = 2",
                "resilience.pipeline.duration {outcome=success, pipeline=checkout} = 4",
            ],
            output.Starting("resilience."));
    }
}
