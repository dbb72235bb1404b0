using System.Threading.RateLimiting;
using Resilience.Tests.Pipeline;

namespace Resilience.Tests.Pooling;

/// <summary>
/// A call that waits in a limiter's queue is let in by another call's release, on that call's thread. The waiter must
/// go on in its own flow: not on the releasing call's thread inside its synchronization context (a UI thread), and
/// with its own ambient values, never the releaser's.
/// </summary>
public sealed class WaiterHandoffTests : IDisposable
{
    private static readonly AsyncLocal<string?> Ambient = new();

    private readonly SingleThreadSynchronizationContext _context = new();

    public static TheoryData<string> Limiters => ["in-flight", "bcl-concurrency", "partitioned"];

    public void Dispose() => _context.Dispose();

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task A_waiter_let_in_by_a_release_on_a_ui_thread_goes_on_in_its_own_flow(string kind)
    {
        using var limiter = kind switch
        {
            "in-flight" => (IDisposable)new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 }),
            "bcl-concurrency" => new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 }),
            _ => PartitionedRateLimiter.Create<int, int>(_ => RateLimitPartition.GetConcurrencyLimiter(0, _ => new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 })),
        };
        var builder = new ResiliencePipelineBuilder();
        var pipeline = (limiter switch
        {
            PartitionedRateLimiter<int> partitioned => builder.AddRateLimiter(partitioned, static () => 0, waitForPermit: true),
            _ => builder.AddRateLimiter((RateLimiter)limiter, waitForPermit: true),
        }).Build();

        using var holding = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var releaserThread = _context.ThreadId;

        // The holder runs on the context's thread, synchronously: its exit, which lets the waiter in, runs there.
        var holder = _context.Run(() =>
        {
            Ambient.Value = "holder";
            pipeline.Execute(_ =>
            {
                holding.Set();
                Assert.True(release.Wait(TimeSpan.FromMinutes(1)));
            });
            return Ambient.Value;
        });
        Assert.True(holding.Wait(TimeSpan.FromMinutes(1)));

        (int Thread, SynchronizationContext? Context, string? Ambient) seen = default;
        Ambient.Value = "waiter";
        var waiter = pipeline.ExecuteAsync(_ =>
        {
            seen = (Environment.CurrentManagedThreadId, SynchronizationContext.Current, Ambient.Value);
            return ValueTask.CompletedTask;
        }).AsTask();
        Assert.False(waiter.IsCompleted);

        release.Set();
        Assert.Equal("holder", await holder.WaitAsync(TimeSpan.FromMinutes(1)));
        await waiter.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.NotEqual(releaserThread, seen.Thread);
        Assert.Null(seen.Context);
        Assert.Equal("waiter", seen.Ambient);
    }
}
