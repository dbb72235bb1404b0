namespace Resilience.Http.Tests.Middleware;

/// <summary>Waits, boundedly, for a condition that another thread (the server's) makes true.</summary>
internal static class Eventually
{
    public static async Task True(Func<bool> condition)
    {
        for (var i = 0; i < 1_000 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }
}
