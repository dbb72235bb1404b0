namespace Resilience.Grpc;

/// <summary>
/// Ends a call's linked cancellation source once, whichever comes first: the call ending (disposed only) or the caller
/// ending it (cancelled, then disposed). Later releases do nothing.
/// </summary>
internal static class CallCancellation
{
    /// <summary>Releases <paramref name="source"/> unless <paramref name="released"/> says it was already.</summary>
    /// <param name="source">The call's linked source.</param>
    /// <param name="released">The call's flag: 0 until released, then 1.</param>
    /// <param name="cancel">Whether to cancel before disposing (the caller ended the call).</param>
    public static void Release(CancellationTokenSource source, ref int released, bool cancel)
    {
        if (Interlocked.Exchange(ref released, 1) != 0)
        {
            return;
        }

        if (cancel)
        {
            source.Cancel();
        }

        source.Dispose();
    }
}
