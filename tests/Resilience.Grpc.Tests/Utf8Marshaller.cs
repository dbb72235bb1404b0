using System.Text;
using Grpc.Core;

namespace Resilience.Grpc.Tests;

/// <summary>The test servers' messages: plain strings, as UTF-8 (no generated code).</summary>
internal static class Utf8Marshaller
{
    public static readonly Marshaller<string> Strings = Marshallers.Create(Encoding.UTF8.GetBytes, Encoding.UTF8.GetString);
}
