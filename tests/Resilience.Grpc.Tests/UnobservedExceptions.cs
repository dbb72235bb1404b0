namespace Resilience.Grpc.Tests;

/// <summary>Collects the unobserved task exceptions an action leaves behind once its garbage is collected.</summary>
internal static class UnobservedExceptions
{
    /// <summary>
    /// Runs <paramref name="action"/>, collects the garbage and returns the unobserved exceptions with an inner exception
    /// that <paramref name="matches"/> (other tests run alongside: only this test's are kept).
    /// </summary>
    public static async Task<List<Exception>> LeftByAsync(Func<Exception, bool> matches, Func<Task> action)
    {
        var unobserved = new List<Exception>();
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            if (e.Exception.InnerExceptions.Any(matches))
            {
                lock (unobserved)
                {
                    unobserved.Add(e.Exception);
                }
            }
        }

        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            await action();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }

        return unobserved;
    }
}
