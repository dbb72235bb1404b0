namespace Resilience.Tests.CircuitBreaker;

/// <summary>
/// A deliberately simple, single-threaded reference model of the breaker's rules, written from the specification:
/// a list of recorded calls instead of striped counters, plain fields instead of a packed state word.
/// </summary>
internal sealed class BreakerModel(CircuitBreakerOptions options)
{
    private readonly List<(long Epoch, uint Generation, bool Failure, bool Slow)> _records = [];
    private readonly long _bucketTicks = options.SamplingDuration.Ticks / options.BucketCount;

    public CircuitState State { get; private set; }

    public uint Generation { get; private set; }

    private long _openUntil;
    private long _probeDeadline;
    private int _probesAdmitted;
    private int _probeSuccesses;
    private int _probeFailures;
    private int _consecutiveFailures;
    private int _reopenings;

    private int RequiredSuccesses => Math.Max(1, (int)Math.Ceiling((options.ProbeSuccessRatio * options.PermittedProbes) - 1e-9));

    private long ProbeTimeout => (options.ProbeTimeout ?? options.BreakDuration).Ticks;

    /// <summary>Returns (admitted, generation, probe).</summary>
    public (bool Admitted, uint Generation, bool Probe) Acquire(long now)
    {
        switch (State)
        {
            case CircuitState.Closed:
                return (true, Generation, false);
            case CircuitState.Isolated:
                return (false, Generation, false);
            case CircuitState.Open:
                if (now < _openUntil)
                {
                    return (false, Generation, false);
                }

                StartRound(now);
                return (true, Generation, true);
            default:
                if (_probesAdmitted < options.PermittedProbes)
                {
                    _probesAdmitted++;
                    return (true, Generation, true);
                }

                if (now < _probeDeadline)
                {
                    return (false, Generation, false);
                }

                StartRound(now);
                return (true, Generation, true);
        }
    }

    public void Record(uint generation, bool probe, CircuitCallResult result, long startTicks, long now)
    {
        if (generation != Generation)
        {
            return;
        }

        if (probe)
        {
            if (State != CircuitState.HalfOpen)
            {
                return;
            }

            if (result == CircuitCallResult.Ignored)
            {
                _probesAdmitted = Math.Max(0, _probesAdmitted - 1);
                return;
            }

            if (result == CircuitCallResult.Success)
            {
                _probeSuccesses++;
            }
            else
            {
                _probeFailures++;
            }

            if (_probeFailures > options.PermittedProbes - RequiredSuccesses)
            {
                Open(now, _reopenings + 1);
            }
            else if (_probeSuccesses >= RequiredSuccesses)
            {
                State = CircuitState.Closed;
                Generation++;
                _reopenings = 0;
                _consecutiveFailures = 0;
            }

            return;
        }

        if (State != CircuitState.Closed || result == CircuitCallResult.Ignored)
        {
            return;
        }

        var slowMs = options.SlowCallDuration is { } s ? Math.Max(1, (long)Math.Ceiling(s.TotalMilliseconds)) : 0;
        var elapsedMs = (now / TimeSpan.TicksPerMillisecond) - (startTicks / TimeSpan.TicksPerMillisecond);
        var slow = slowMs > 0 && elapsedMs >= slowMs;
        var failure = result == CircuitCallResult.Failure;
        var epoch = (long)(now * (1d / _bucketTicks));
        _records.Add((epoch, Generation, failure, slow));
        _consecutiveFailures = failure ? _consecutiveFailures + 1 : 0;
        if (!failure && !slow)
        {
            return;
        }

        if (options.ConsecutiveFailures > 0 && _consecutiveFailures >= options.ConsecutiveFailures)
        {
            Open(now, 0);
            return;
        }

        var (calls, failures, slowCalls) = Window(now);
        if (calls < options.MinimumThroughput)
        {
            return;
        }

        if ((double)failures / calls >= options.FailureRatio || (slowMs > 0 && (double)slowCalls / calls >= options.SlowCallRatio))
        {
            Open(now, 0);
        }
    }

    public (long Calls, long Failures, long Slow) Window(long now)
    {
        var epoch = (long)(now * (1d / _bucketTicks));
        var inWindow = _records.Where(r => r.Generation == Generation && r.Epoch > epoch - options.BucketCount && r.Epoch <= epoch).ToList();
        return (inWindow.Count, inWindow.Count(r => r.Failure), inWindow.Count(r => r.Slow));
    }

    public void Isolate()
    {
        State = CircuitState.Isolated;
        Generation++;
    }

    public void Close()
    {
        State = CircuitState.Closed;
        Generation++;
        _reopenings = 0;
        _consecutiveFailures = 0;
    }

    private void StartRound(long now)
    {
        State = CircuitState.HalfOpen;
        Generation++;
        _probesAdmitted = 1;
        _probeSuccesses = 0;
        _probeFailures = 0;
        _probeDeadline = now + ProbeTimeout;
    }

    private void Open(long now, int reopenings)
    {
        var breakTicks = (long)Math.Min(options.BreakDuration.Ticks * Math.Pow(options.BreakDurationMultiplier, reopenings), options.MaxBreakDuration.Ticks);
        State = CircuitState.Open;
        Generation++;
        _openUntil = now + breakTicks;
        _reopenings = reopenings;
        _consecutiveFailures = 0;
    }
}
