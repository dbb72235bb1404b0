using System.Diagnostics.Metrics;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// Listens to every instrument of one meter (a private one: no other test's measurements reach it) and keeps every
/// measurement as an <see cref="ExpectedMeasurement"/> line, and every tag set that differs from the one the documentation
/// gives its instrument.
/// </summary>
internal sealed class MeasurementRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, IReadOnlySet<string>> _documented;

    public MeasurementRecorder(Meter meter)
    {
        _documented = DocumentedInstrument.ReadAll().ToDictionary(row => row.Name, row => row.Tags);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Add(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Add(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>Gets the measurements recorded since the last <see cref="Take"/>.</summary>
    public List<string> Recorded { get; } = [];

    /// <summary>Gets the measurements whose tag names are not those documented for their instrument.</summary>
    public List<string> Undocumented { get; } = [];

    /// <summary>Reads every observable instrument now: what they report, taken out of <see cref="Recorded"/>.</summary>
    public List<string> Observe()
    {
        lock (Recorded)
        {
            var before = Recorded.Count;
            _listener.RecordObservableInstruments();
            var observed = Recorded.GetRange(before, Recorded.Count - before);
            Recorded.RemoveRange(before, Recorded.Count - before);
            return observed;
        }
    }

    /// <summary>
    /// Compares what was recorded since the last look with <paramref name="expected"/> (in any order), and empties both.
    /// </summary>
    /// <returns>Why they differ (a tag set not as documented, or the two lists), or <see langword="null"/> when they agree.</returns>
    public string? TakeDifferences(List<string> expected)
    {
        List<string> recorded;
        List<string> undocumented;
        lock (Recorded)
        {
            recorded = [.. Recorded.Order(StringComparer.Ordinal)];
            undocumented = [.. Undocumented];
            Recorded.Clear();
        }

        var ordered = expected.Order(StringComparer.Ordinal).ToList();
        expected.Clear();
        if (undocumented.Count > 0)
        {
            return $"tags not as documented: [{string.Join("; ", undocumented)}]";
        }

        return recorded.SequenceEqual(ordered, StringComparer.Ordinal)
            ? null
            : $"recorded [{string.Join("; ", recorded)}] vs model [{string.Join("; ", ordered)}]";
    }

    public void Dispose() => _listener.Dispose();

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var pairs = new (string, object?)[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            pairs[i] = (tags[i].Key, tags[i].Value);
        }

        var line = ExpectedMeasurement.Of(instrument.Name, value, pairs);
        lock (Recorded)
        {
            Recorded.Add(line);
            if (!_documented.TryGetValue(instrument.Name, out var documented) || !documented.SetEquals(pairs.Select(p => p.Item1)))
            {
                Undocumented.Add(line);
            }
        }
    }
}
