namespace Resilience.Tests.Pipeline;

/// <summary>A callback's task backed by a reusable source is consumed exactly once, as the contract of such tasks asks.</summary>
public class ValueTaskSourceTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    public async Task A_completed_callback_task_without_a_result_is_consumed_exactly_once(int length)
    {
        var builder = new ResiliencePipelineBuilder();
        for (var index = 0; index < length; index++)
        {
            builder.AddStrategy(new RecordingStrategy($"s{index}"));
        }

        var pipeline = builder.Build();
        var source = new CountingValueTaskSource();

        await pipeline.ExecuteAsync(_ => source.Completed());
        Assert.Equal(1, source.Consumed);

        await pipeline.ExecuteAsync(static (source, _) => source.Completed(), source);
        Assert.Equal(2, source.Consumed);
    }
}
