using System.Reflection;

namespace Resilience.Grpc.Tests;

/// <summary>
/// Counts the callbacks registered on a <see cref="CancellationTokenSource"/> and not yet disposed. The runtime does not
/// expose the count, so it is read from the source's private list; <see cref="Count"/> checks itself against
/// registrations it makes, so a runtime whose layout differs fails the test instead of reading zero.
/// </summary>
internal static class TokenRegistrations
{
    private static readonly FieldInfo Registrations = typeof(CancellationTokenSource).GetField("_registrations", BindingFlags.NonPublic | BindingFlags.Instance)
        ?? throw new InvalidOperationException("CancellationTokenSource._registrations not found.");

    /// <summary>The registrations live on <paramref name="source"/>.</summary>
    public static int Count(CancellationTokenSource source)
    {
        var before = Read(source);
        using (source.Token.Register(static () => { }))
        using (source.Token.Register(static () => { }))
        {
            var during = Read(source);
            if (during != before + 2)
            {
                throw new InvalidOperationException($"The registration count cannot be read: {before} before two registrations, {during} with them.");
            }
        }

        var after = Read(source);
        return after == before
            ? before
            : throw new InvalidOperationException($"The registration count cannot be read: {before} before, {after} after two disposed registrations.");
    }

    private static int Read(CancellationTokenSource source)
    {
        var registrations = Registrations.GetValue(source);
        if (registrations is null)
        {
            return 0;
        }

        var callbacks = registrations.GetType().GetField("Callbacks", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)
            ?? throw new InvalidOperationException("Registrations.Callbacks not found.");
        var node = callbacks.GetValue(registrations);
        var next = node?.GetType().GetField("Next", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance);
        var count = 0;
        while (node is not null)
        {
            count++;
            node = next!.GetValue(node);
        }

        return count;
    }
}
