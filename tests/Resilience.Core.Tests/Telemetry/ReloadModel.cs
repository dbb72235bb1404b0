using Resilience.Tests.Composite;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// The reference of <see cref="ReloadTelemetryModelTests"/>, from docs/configuration.md and docs/telemetry.md: which
/// changes of settings are read (a signalled change of the section, every <c>Reload()</c>, every push; a signal that
/// changes nothing is none), which are rejected as a whole and with which keys named, what each counts
/// (<c>resilience.config.reloads</c>), logs and leaves in <c>LastReload</c> and the health report, which settings are in
/// force after it (the last good ones after a rejection; a push for the bucket while its section is unchanged), and what
/// the calls through the pipeline record under them.
/// </summary>
internal sealed class ReloadModel
{
    public const string Pipeline = "orders";
    public const string RetryName = "orders/Retry";
    public const string BucketName = "orders/Bucket";
    public const string BucketKey = "Pipelines:orders:Bucket";

    private readonly TokenBucketModel _bucket;
    private ReloadSettings _configured;
    private string _read;
    private (int Attempts, int Throughput, int Rate, int Burst) _inForce;
    private bool _breakerInside;
    private (int Rate, int Burst, string BucketText)? _push;

    public ReloadModel(ReloadSettings initial, long originTicks)
    {
        _configured = initial;
        _read = Text(initial);
        _inForce = (initial.Attempts, initial.Throughput, initial.Rate, initial.Burst);
        _breakerInside = initial.BreakerInside;
        _bucket = new TokenBucketModel(new TokenBucketLimiterOptions { PermitsPerSecond = initial.Rate, Burst = initial.Burst }, originTicks);
    }

    /// <summary>Gets the measurements expected since the last look.</summary>
    public List<string> Expected { get; } = [];

    /// <summary>Gets the log lines expected since the last look (level, event name, and for an applied change its message).</summary>
    public List<string> ExpectedLogs { get; } = [];

    /// <summary>
    /// Gets the last change read: its source, whether applied, the strategies it updated and the pipelines it rebuilt,
    /// for a rejection the mistakes' keys, and when.
    /// </summary>
    public (string Source, bool Applied, int Updated, int Rebuilt, IReadOnlyList<string[]> Mistakes, DateTimeOffset Time)? LastReload { get; private set; }

    /// <summary>Gets whether the configuration's last reading was rejected (a rejected push leaves this as it was).</summary>
    public bool ConfigurationRejected { get; private set; }

    /// <summary>Gets the settings in force, for failure messages.</summary>
    public string InForce => $"attempts {_inForce.Attempts}, throughput {_inForce.Throughput}, rate {_inForce.Rate}/s, burst {_inForce.Burst}{(_breakerInside ? ", breaker inside the bucket" : string.Empty)}{(_push is { } push ? $" (pushed {push.Rate}/s, {push.Burst})" : string.Empty)}";

    /// <summary>
    /// The configuration now says <paramref name="next"/>: read when the change is signalled and the section changed, or
    /// always when <c>Reload()</c> is called (<paramref name="explicitly"/>).
    /// </summary>
    public void Configure(ReloadSettings next, bool explicitly, long nowTicks, DateTimeOffset now)
    {
        _configured = next;
        var text = Text(next);
        if (!explicitly && text == _read)
        {
            return;
        }

        _read = text;
        Read(explicitly ? "reload" : "configuration", candidate: null, nowTicks, now);
    }

    /// <summary>Options for the bucket pushed by code: <paramref name="burst"/> 0 is out of range.</summary>
    public void Push(int rate, int burst, long nowTicks, DateTimeOffset now) => Read($"code ({BucketKey})", (rate, burst), nowTicks, now);

    /// <summary>
    /// A call whose first <paramref name="failing"/> attempts throw: each attempt takes a permit from the bucket (inside
    /// the retry), the retry retries a failure (not a refusal) while it has attempts left, without a delay.
    /// </summary>
    public string Call(int failing, long nowTicks)
    {
        string ending;
        for (var attempt = 0; ; attempt++)
        {
            if (!_bucket.Take(nowTicks).Granted)
            {
                Expected.Add(ExpectedMeasurement.Of("resilience.rate_limiter.rejections", 1, ("pipeline", Pipeline), ("strategy", BucketName), ("reason", "rate_limited")));
                ending = "rejected";
                break;
            }

            if (attempt >= failing)
            {
                ending = "success";
                break;
            }

            if (attempt >= _inForce.Attempts)
            {
                ending = "failure";
                break;
            }

            Expected.Add(ExpectedMeasurement.Of("resilience.retry.attempts", 1, ("pipeline", Pipeline), ("strategy", RetryName)));
        }

        Expected.Add(ExpectedMeasurement.Of("resilience.pipeline.calls", 1, ("pipeline", Pipeline), ("outcome", ending)));
        Expected.Add(ExpectedMeasurement.Of("resilience.pipeline.duration", 0, ("pipeline", Pipeline), ("outcome", ending)));
        return ending;
    }

    /// <summary>The bucket's permits now.</summary>
    public long Available(long nowTicks) => _bucket.Available(nowTicks);

    private static string Text(ReloadSettings settings) => string.Join(";", settings.Values().Select(v => $"{v.Key}={v.Value}").Order(StringComparer.Ordinal));

    private void Read(string source, (int Rate, int Burst)? candidate, long nowTicks, DateTimeOffset now)
    {
        // A push stands in for its section while that section reads as it did when it was pushed.
        var push = candidate is { } pushed ? (pushed.Rate, pushed.Burst, _configured.BucketText) : _push;
        var pushInForce = push is { } p && p.BucketText == _configured.BucketText;
        var pushing = candidate is not null;
        var faults = _configured.Faults;
        var mistakes = new List<string[]>();
        if (faults.HasFlag(ReloadFault.Emptied))
        {
            // Nothing else is read: the pipeline is gone from the settings, which keep it as it was, and a push for it is stale.
            mistakes.Add(["is empty or missing"]);
            if (candidate is not null)
            {
                mistakes.Add([$"{ReloadSettings.Section}:Bucket"]);
            }

            faults = ReloadFault.None;
            candidate = null;
        }

        if (faults.HasFlag(ReloadFault.RetryAttemptsOutOfRange))
        {
            mistakes.Add([$"{ReloadSettings.Section}:Retry:MaxRetryAttempts"]);
        }

        // A section no entry of the list names is reported as not listed; its options are not read.
        if (faults.HasFlag(ReloadFault.FailureRatioOutOfRange) && !faults.HasFlag(ReloadFault.UnknownStrategyType))
        {
            mistakes.Add([$"{ReloadSettings.Section}:CircuitBreaker:FailureRatio"]);
        }

        if (faults.HasFlag(ReloadFault.BurstOutOfRange) && !pushInForce)
        {
            mistakes.Add([$"{ReloadSettings.Section}:Bucket:Burst"]);
        }

        if (faults.HasFlag(ReloadFault.UnparsableRate))
        {
            mistakes.Add([$"{ReloadSettings.Section}:Bucket:PermitsPerSecond"]);
        }

        if (faults.HasFlag(ReloadFault.UnknownStrategyType))
        {
            // The type is unknown, and the breaker's section is no longer listed.
            mistakes.Add([$"{ReloadSettings.Section}:Strategies:{_configured.BreakerIndex}", $"{ReloadSettings.Section}:CircuitBreaker is not listed"]);
        }

        if (candidate is { Burst: 0 })
        {
            mistakes.Add([$"{ReloadSettings.Section}:Bucket"]);
        }

        if (mistakes.Count > 0)
        {
            // Rejected as a whole: nothing changes, a push included; only the configuration's rejection is unhealthy.
            ConfigurationRejected |= !pushing;
            Expected.Add(ExpectedMeasurement.Of("resilience.config.reloads", 1, ("result", "rejected")));
            ExpectedLogs.Add("Error ReloadRejected");
            LastReload = (source, false, 0, 0, mistakes, now);
            return;
        }

        _push = pushInForce ? push : null;
        var next = (_configured.Attempts, _configured.Throughput, _push?.Rate ?? _configured.Rate, _push?.Burst ?? _configured.Burst);
        var updated = (next.Attempts != _inForce.Attempts ? 1 : 0) + (next.Throughput != _inForce.Throughput ? 1 : 0);
        if ((next.Item3, next.Item4) != (_inForce.Rate, _inForce.Burst))
        {
            updated++;
            _bucket.Update(new TokenBucketLimiterOptions { PermitsPerSecond = next.Item3, Burst = next.Item4 }, nowTicks);
        }

        // A new order rebuilds the pipeline in place; its strategies keep their state (the bucket its tokens).
        var rebuilt = _configured.BreakerInside != _breakerInside ? 1 : 0;
        (_inForce, _breakerInside) = (next, _configured.BreakerInside);
        ConfigurationRejected = false;
        Expected.Add(ExpectedMeasurement.Of("resilience.config.reloads", 1, ("result", "applied")));
        ExpectedLogs.Add($"Information ReloadApplied Resilience settings reloaded from {source}: {updated} live strategies updated in place, {rebuilt} pipelines rebuilt.");
        LastReload = (source, true, updated, rebuilt, [], now);
    }
}
