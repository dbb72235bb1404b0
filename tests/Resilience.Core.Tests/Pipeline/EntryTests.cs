namespace Resilience.Tests.Pipeline;

public class EntryTests
{
    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(TimeSpan.TicksPerDay)]
    public void A_rejection_keeps_its_retry_after_exactly(long ticks)
    {
        var entry = Entry.Reject(RejectionReason.RateLimited, TimeSpan.FromTicks(ticks));

        Assert.Equal(EntryKind.Rejected, entry.Kind);
        Assert.Equal(RejectionReason.RateLimited, entry.Reason);
        Assert.Equal(TimeSpan.FromTicks(ticks), entry.RetryAfter);
    }

    [Fact]
    public void A_retry_after_too_long_to_pack_is_kept_as_the_longest_one_packable_not_lost_or_wrapped()
    {
        var entry = Entry.Reject(RejectionReason.BrokenCircuit, TimeSpan.MaxValue);

        Assert.Equal(EntryKind.Rejected, entry.Kind);
        Assert.Equal(RejectionReason.BrokenCircuit, entry.Reason);
        Assert.NotNull(entry.RetryAfter);
        Assert.True(entry.RetryAfter > TimeSpan.FromDays(365 * 1000), entry.RetryAfter.ToString());
    }

    [Fact]
    public void A_negative_retry_after_means_now()
    {
        Assert.Equal(TimeSpan.Zero, Entry.Reject(RejectionReason.RateLimited, TimeSpan.FromSeconds(-1)).RetryAfter);
    }
}
