using System.Diagnostics.Metrics;
using Resilience.Telemetry;

namespace Resilience.Examples;

/// <summary>A <see cref="MeterListener"/> collects what the library's meter reports for a few calls.</summary>
public sealed class TelemetryExample : IExample
{
    /// <inheritdoc />
    public string Name => "telemetry";

    /// <inheritdoc />
    public string Summary => "a MeterListener prints the library's instruments for a few calls";

    /// <inheritdoc />
    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);

        // An instance of our own rather than ResilienceTelemetry.Default, so only this example's measurements are seen.
        using var telemetry = new ResilienceTelemetry();
        var totals = new SortedDictionary<string, double>(StringComparer.Ordinal);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, telemetry.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Tally(totals, instrument, value, tags));
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Tally(totals, instrument, value, tags));
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Tally(totals, instrument, value, tags));
        listener.Start();

        var payments = new SimulatedDependency("payments");
        var breaker = new CircuitBreaker(new CircuitBreakerOptions { Name = "payments", FailureRatio = 0.5, MinimumThroughput = 4, BreakDuration = TimeSpan.FromMinutes(1) });
        using var tracking = telemetry.Track(breaker);
        var pipeline = new ResiliencePipelineBuilder { Name = "checkout" }
            .AddTelemetry(telemetry)
            .AddCircuitBreaker(breaker)
            .Build();

        output.WriteLine("Eight calls to the payments service (the last four fail), then two more while the breaker is open.");
        for (var call = 1; call <= 10; call++)
        {
            payments.IsHealthy = call <= 4;
            await pipeline.ExecuteOutcomeAsync(static (s, ct) => s.CallAsync("charge", ct), payments, cancellationToken);
        }

        // Gauges are read only when a listener collects them.
        listener.RecordObservableInstruments();
        output.WriteLine($"The meter '{ResilienceTelemetry.MeterName}' reported (histograms as the number of recordings, gauges as the last value):");
        foreach (var (key, value) in totals)
        {
            output.WriteLine($"  {key} = {value:0.###}");
        }
    }

    private static void Tally<T>(SortedDictionary<string, double> totals, Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct, IConvertible
    {
        var names = new List<string>(tags.Length);
        foreach (var tag in tags)
        {
            names.Add($"{tag.Key}={tag.Value}");
        }

        names.Sort(StringComparer.Ordinal);
        var key = $"{instrument.Name} {{{string.Join(", ", names)}}}";
        var number = value.ToDouble(System.Globalization.CultureInfo.InvariantCulture);
        lock (totals)
        {
            totals[key] = instrument switch
            {
                Histogram<double> => totals.GetValueOrDefault(key) + 1,
                Counter<long> => totals.GetValueOrDefault(key) + number,
                _ => number,
            };
        }
    }
}
