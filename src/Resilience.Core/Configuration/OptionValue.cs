using System.Globalization;

namespace Resilience.Configuration;

/// <summary>
/// Converts a configuration value to an option's type, reading it as <c>ConfigurationBinder</c> does (the type's
/// converter, invariant culture) for the types options use. Written out rather than borrowed from the binder or
/// <c>TypeDescriptor</c>, both of which need reflection a trimmed or natively compiled application cannot keep.
/// </summary>
internal static class OptionValue
{
    /// <summary>Gets whether configuration can set an option of <paramref name="type"/>: a value of one of the types converted here.</summary>
    public static bool IsSupported(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || IntegerRange(type) is not null
            || type == typeof(bool) || type == typeof(double) || type == typeof(float) || type == typeof(decimal);
    }

    /// <summary>Converts <paramref name="value"/> to <paramref name="type"/>.</summary>
    /// <param name="type">A type <see cref="IsSupported"/> accepts.</param>
    /// <param name="value">The configuration value.</param>
    /// <param name="converted">The value as <paramref name="type"/> (<see langword="null"/> for an empty value of a nullable type).</param>
    /// <returns>Whether the value converts.</returns>
    public static bool TryConvert(Type type, string value, out object? converted)
    {
        converted = null;
        var underlying = Nullable.GetUnderlyingType(type);
        if (type == typeof(string) || (underlying is not null && value.Length == 0))
        {
            // The binder reads an empty value as null for a nullable option.
            converted = type == typeof(string) ? value : null;
            return true;
        }

        type = underlying ?? type;

        // The converters trim first (bool.Parse and TimeSpan.Parse trim too).
        var text = value.Trim();
        var invariant = CultureInfo.InvariantCulture;
        if (type.IsEnum)
        {
            return TryParseEnum(type, text, out converted);
        }

        if (type == typeof(TimeSpan))
        {
            return Box(TimeSpan.TryParse(text, invariant, out var duration), duration, out converted);
        }

        if (type == typeof(bool))
        {
            return Box(bool.TryParse(text, out var flag), flag, out converted);
        }

        if (type == typeof(double))
        {
            return Box(double.TryParse(text, NumberStyles.Float, invariant, out var number), number, out converted);
        }

        if (type == typeof(float))
        {
            return Box(float.TryParse(text, NumberStyles.Float, invariant, out var number), number, out converted);
        }

        if (type == typeof(decimal))
        {
            return Box(decimal.TryParse(text, NumberStyles.Float, invariant, out var number), number, out converted);
        }

        if (IntegerRange(type) is not { } range)
        {
            throw new ArgumentException($"Options of type {type.Name} cannot be set from configuration.", nameof(type));
        }

        // The integer converters also read hexadecimal after "0x", "&h" or "#".
        Int128 whole;
        var parsed = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) || text.StartsWith("&h", StringComparison.OrdinalIgnoreCase)
            ? TryParseHex(text[2..], range, out whole)
            : text.StartsWith('#')
                ? TryParseHex(text[1..], range, out whole)
                : Int128.TryParse(text, NumberStyles.Integer, invariant, out whole);
        if (!parsed || whole < range.Min || whole > range.Max)
        {
            return false;
        }

        converted = Type.GetTypeCode(type) switch
        {
            TypeCode.SByte => (sbyte)whole,
            TypeCode.Byte => (byte)whole,
            TypeCode.Int16 => (short)whole,
            TypeCode.UInt16 => (ushort)whole,
            TypeCode.Int32 => (int)whole,
            TypeCode.UInt32 => (uint)whole,
            TypeCode.Int64 => (long)whole,
            _ => (object)(ulong)whole,
        };
        return true;
    }

    /// <summary>Gets the values an integer type holds, or <see langword="null"/> when <paramref name="type"/> is not an integer type converted here.</summary>
    public static (Int128 Min, Int128 Max)? IntegerRange(Type type) => Type.GetTypeCode(type) switch
    {
        _ when type.IsEnum => null,
        TypeCode.SByte => (sbyte.MinValue, sbyte.MaxValue),
        TypeCode.Byte => (byte.MinValue, byte.MaxValue),
        TypeCode.Int16 => (short.MinValue, short.MaxValue),
        TypeCode.UInt16 => (ushort.MinValue, ushort.MaxValue),
        TypeCode.Int32 => (int.MinValue, int.MaxValue),
        TypeCode.UInt32 => (uint.MinValue, uint.MaxValue),
        TypeCode.Int64 => (long.MinValue, long.MaxValue),
        TypeCode.UInt64 => (ulong.MinValue, ulong.MaxValue),
        _ => null,
    };

    /// <summary>
    /// Reads hexadecimal digits as the integer converters do: as the bits of the type, so "0xFFFFFFFF" is -1 for an
    /// <see cref="int"/> and too large for a <see cref="long"/> only past 16 digits.
    /// </summary>
    private static bool TryParseHex(string digits, (Int128 Min, Int128 Max) range, out Int128 whole)
    {
        whole = 0;

        // Convert.ToInt32(text, 16) and its kin, which the converters call, skip a plus sign and then a "0x" of their own.
        if (digits.StartsWith('+'))
        {
            digits = digits[1..];
        }

        if (digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            digits = digits[2..];
        }

        if (!UInt128.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var bits))
        {
            return false;
        }

        // The type's width in bits, from its range: a signed type's maximum is 2^(n-1) - 1, an unsigned one's 2^n - 1.
        var span = (UInt128)(range.Max - range.Min);
        if (bits > span)
        {
            return false;
        }

        whole = range.Min < 0 && bits > (UInt128)range.Max ? (Int128)bits - (Int128)span - 1 : (Int128)bits;
        return true;
    }

    /// <summary>As the enum converter: a name ignoring case or a number; with commas, each part read so and the values joined.</summary>
    private static bool TryParseEnum(Type type, string text, out object? converted)
    {
        if (!text.Contains(',', StringComparison.Ordinal))
        {
            return Enum.TryParse(type, text, ignoreCase: true, out converted);
        }

        converted = null;
        long joined = 0;
        foreach (var part in text.Split(','))
        {
            if (!Enum.TryParse(type, part, ignoreCase: true, out var value))
            {
                return false;
            }

            joined |= Convert.ToInt64(value, CultureInfo.InvariantCulture);
        }

        converted = Enum.ToObject(type, joined);
        return true;
    }

    private static bool Box<T>(bool parsed, T value, out object? converted)
    {
        converted = parsed ? value : null;
        return parsed;
    }
}
