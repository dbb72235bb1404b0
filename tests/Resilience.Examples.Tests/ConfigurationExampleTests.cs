namespace Resilience.Examples.Tests;

public class ConfigurationExampleTests
{
    [Fact]
    public async Task A_reload_changes_the_threshold_in_place_and_the_breaker_keeps_its_window()
    {
        var output = await ExampleOutput.RunAsync("configuration");

        output.HasInOrder(
            "Its breaker 'orders/CircuitBreaker' opens at FailureRatio 0.5 over at least 10 calls.",
            "After 3 failed calls: Closed, generation 0, 3 calls and 3 failures in the window.",
            "Reload applied: 1 live strategy updated in place, 0 pipelines rebuilt.",
            "Same breaker: True; it kept its window: Closed, generation 0, 3 calls and 3 failures in the window.",
            "One more failed call reaches the new threshold: Open, generation 1, 0 calls and 0 failures in the window.");
    }

    [Fact]
    public async Task A_bad_reload_is_rejected_as_a_whole_and_the_old_threshold_stays()
    {
        var output = await ExampleOutput.RunAsync("configuration");

        output.HasInOrder(
            "Reload rejected as a whole:",
            "Resilience:Pipelines:orders:CircuitBreaker:FailureRatio must be in (0, 1]; was 1.5.",
            "The last good settings stay in force: FailureRatio 0.5, MinimumThroughput 4.",
            "The health view reports unhealthy; its last reload was rejected.");
    }
}
