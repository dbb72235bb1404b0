using System.Diagnostics.Metrics;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

public sealed class InstrumentCatalogTests
{
    [Fact]
    public void The_meter_publishes_exactly_the_instruments_the_documentation_lists_with_their_kind_and_unit()
    {
        using var telemetry = new ResilienceTelemetry();
        var published = new List<Instrument>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, _) =>
            {
                if (ReferenceEquals(instrument.Meter, telemetry.Meter))
                {
                    published.Add(instrument);
                }
            };
            listener.Start();
        }

        var documented = DocumentedInstrument.ReadAll();

        Assert.Equal(
            documented.Select(row => (row.Name, row.Kind, row.Unit)).Order(),
            published.Select(instrument => (instrument.Name, KindOf(instrument), instrument.Unit ?? string.Empty)).Order());
        Assert.All(published, instrument => Assert.False(string.IsNullOrWhiteSpace(instrument.Description), instrument.Name));
        Assert.Equal(ResilienceTelemetry.MeterName, telemetry.Meter.Name);
    }

    [Fact]
    public void Every_documented_instrument_has_tags_from_the_documented_set()
    {
        var documented = DocumentedInstrument.ReadAll();

        Assert.NotEmpty(documented);
        Assert.All(documented, row => Assert.NotEmpty(row.Tags));
        Assert.Equal(["outcome", "pipeline"], documented.Single(row => row.Name == "resilience.pipeline.calls").Tags.Order());
        Assert.Equal(["from", "reason", "strategy", "to"], documented.Single(row => row.Name == "resilience.circuit_breaker.transitions").Tags.Order());
    }

    private static string KindOf(Instrument instrument) => instrument.GetType().GetGenericTypeDefinition() switch
    {
        var type when type == typeof(Counter<>) => "counter",
        var type when type == typeof(Histogram<>) => "histogram",
        var type when type == typeof(UpDownCounter<>) => "up-down counter",
        var type when type == typeof(Gauge<>) => "gauge",
        var type when type == typeof(ObservableCounter<>) => "observable counter",
        var type when type == typeof(ObservableGauge<>) => "observable gauge",
        var type when type == typeof(ObservableUpDownCounter<>) => "observable up-down counter",
        var type => type.Name,
    };
}
