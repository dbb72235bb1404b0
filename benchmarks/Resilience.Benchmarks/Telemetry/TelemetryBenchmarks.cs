using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Resilience.Benchmarks.Pipeline;
using Resilience.Telemetry;

namespace Resilience.Benchmarks.Telemetry;

/// <summary>
/// What telemetry costs per call: a one-strategy pipeline without and with telemetry, with no listener and with a
/// <see cref="MeterListener"/> taking every measurement, against Polly v8's telemetry (Polly.Extensions) off and on.
/// </summary>
[MemoryDiagnoser]
public class TelemetryBenchmarks
{
    private static readonly Func<int, CancellationToken, int> Call = static (s, _) => s + 1;

    private ResilienceTelemetry _telemetry = null!;
    private MeterListener? _listener;
    private ResiliencePipeline _ours = null!;
    private ResiliencePipeline _oursInstrumented = null!;
    private Polly.ResiliencePipeline _polly = null!;
    private Polly.ResiliencePipeline _pollyInstrumented = null!;

    /// <summary>Gets or sets whether a meter listener records every measurement of both libraries.</summary>
    [Params(false, true)]
    public bool Listening { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _telemetry = new ResilienceTelemetry();
        _ours = new ResiliencePipelineBuilder { Name = "bench" }.AddStrategy(new PassThroughStrategy()).Build();
        _oursInstrumented = new ResiliencePipelineBuilder { Name = "bench" }.AddTelemetry(_telemetry).AddStrategy(new PassThroughStrategy()).Build();
        _polly = Pass(new Polly.ResiliencePipelineBuilder { Name = "bench" }).Build();
        _pollyInstrumented = Pass(new Polly.ResiliencePipelineBuilder { Name = "bench" }).ConfigureTelemetry(NullLoggerFactory.Instance).Build();

        if (Listening)
        {
            _listener = new MeterListener
            {
                InstrumentPublished = static (instrument, listener) =>
                {
                    if (instrument.Meter.Name is ResilienceTelemetry.MeterName or "Polly")
                    {
                        listener.EnableMeasurementEvents(instrument);
                    }
                },
            };
            _listener.SetMeasurementEventCallback<long>(static (_, _, _, _) => { });
            _listener.SetMeasurementEventCallback<int>(static (_, _, _, _) => { });
            _listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
            _listener.Start();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _listener?.Dispose();
        _telemetry.Dispose();
    }

    [Benchmark]
    public int Ours_without_telemetry() => _ours.Execute(Call, 1);

    [Benchmark]
    public int Ours_with_telemetry() => _oursInstrumented.Execute(Call, 1);

    [Benchmark]
    public int Polly_without_telemetry() => _polly.Execute(static s => s + 1, 1);

    [Benchmark(Baseline = true)]
    public int Polly_with_telemetry() => _pollyInstrumented.Execute(static s => s + 1, 1);

    private static Polly.ResiliencePipelineBuilder Pass(Polly.ResiliencePipelineBuilder builder) =>
        builder.AddStrategy(_ => new PollyPassThroughStrategy(), new PollyPassThroughOptions());
}
