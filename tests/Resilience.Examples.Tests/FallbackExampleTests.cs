namespace Resilience.Examples.Tests;

public class FallbackExampleTests
{
    [Fact]
    public async Task Each_level_of_the_chain_serves_in_turn()
    {
        var output = await ExampleOutput.RunAsync("fallback");

        Assert.Equal(
            [
                "product 1: \"product 1 from catalog\", served by the catalog service.",
                "product 1: \"product 1 from catalog-replica\", served by fallback level 0 'replica'.",
                "product 1: \"product 1 from catalog\", served by fallback level 1 'cache'.",
                "product 2: \"product details unavailable\", served by fallback level 2 'placeholder'.",
            ],
            output.Starting("product "));
        Assert.Equal(
            [
                "Level 0 'replica' replaced: catalog did not answer.",
                "Level 1 'cache' replaced: catalog did not answer.",
                "Level 2 'placeholder' replaced: catalog did not answer.",
            ],
            output.Starting("Level "));
        output.Has("The cache holds 1 product: only product 1 was ever answered by the catalog service.");
    }
}
