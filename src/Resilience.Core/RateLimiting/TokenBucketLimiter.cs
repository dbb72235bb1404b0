using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using Resilience.Time;

namespace Resilience;

/// <summary>
/// A lock-free token bucket: <see cref="TokenBucketLimiterOptions.PermitsPerSecond"/> refill a bucket of
/// <see cref="TokenBucketLimiterOptions.Burst"/> permits. A <see cref="ReplenishingRateLimiter"/>, so it works wherever
/// the BCL's limiters do (ASP.NET Core's rate-limiting middleware, <see cref="PartitionedRateLimiter"/>), and the
/// fastest path of a pipeline's <c>AddRateLimiter</c>.
/// </summary>
/// <remarks>
/// <para>
/// The bucket is one 64-bit word, the "theoretical arrival time" of the generic cell rate algorithm: the time at which
/// the bucket will be full again. Taking n permits moves it n intervals later by one compare-and-swap, if it stays
/// within the burst of now. There is no timer and no queue: a waiter reserves its future slot with the same swap and
/// sleeps until it; a waiter cancelled before its slot gives the slot back if nobody reserved after it.
/// </para>
/// <para>
/// Time is the <see cref="MonotonicClock"/>: with the system clock every decision is precise to the operating system's
/// tick (typically 1 to 4 ms), which bounds how early a refill can be seen; with any other provider it is exact.
/// Arithmetic is in 1/256 of a 100 ns tick, so an interval is exact to 0.4 ns (about 0.04 % at a million permits a second).
/// </para>
/// </remarks>
public sealed class TokenBucketLimiter : ReplenishingRateLimiter
{
    private const long Scale = 256;

    private readonly MonotonicClock _clock;
    private readonly long _origin;
    private readonly StripedCounter _successes = new();
    private Settings _settings;
    private long _arrival;
    private long _failures;
    private int _waiting;
    private int _disposed;

    /// <summary>Initializes a new, full bucket.</summary>
    /// <param name="options">The options; validated and copied.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public TokenBucketLimiter(TokenBucketLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _settings = new Settings(options);
        _clock = MonotonicClock.From(options.TimeProvider);
        _origin = _clock.NowTicks;
    }

    /// <summary>Gets a copy of the options in force.</summary>
    public TokenBucketLimiterOptions Options => Volatile.Read(ref _settings).Options.Clone();

    /// <inheritdoc />
    public override bool IsAutoReplenishing => true;

    /// <summary>Gets whether acquisitions may wait (a maximum wait is set), without copying the options.</summary>
    internal bool CanWait => Volatile.Read(ref _settings).MaxWait > 0;

    /// <inheritdoc />
    public override TimeSpan ReplenishmentPeriod => TimeSpan.FromTicks(Math.Max(1, Volatile.Read(ref _settings).Interval / Scale));

    /// <inheritdoc />
    public override TimeSpan? IdleDuration
    {
        get
        {
            var now = Now();
            var arrival = Volatile.Read(ref _arrival);
            return arrival <= now ? TimeSpan.FromTicks((now - arrival) / Scale) : null;
        }
    }

    /// <summary>
    /// Applies a new rate, burst and maximum wait to the live bucket: the permits it holds now are kept (capped at the
    /// new burst), neither refilled nor drained. The clock is fixed at construction.
    /// </summary>
    /// <param name="options">The new options; validated before anything changes.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range; nothing was changed.</exception>
    public void UpdateOptions(TokenBucketLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var next = new Settings(options);
        while (true)
        {
            var current = Volatile.Read(ref _settings);
            var now = Now();
            var arrival = Volatile.Read(ref _arrival);
            var available = Math.Clamp(current.Capacity - (Math.Max(arrival, now) - now), 0, current.Capacity);
            var kept = Math.Min((long)((double)available / current.Interval * next.Interval), next.Capacity);
            if (Interlocked.CompareExchange(ref _arrival, now + next.Capacity - kept, arrival) == arrival)
            {
                Volatile.Write(ref _settings, next);
                return;
            }
        }
    }

    /// <inheritdoc />
    public override bool TryReplenish() => false;

    /// <inheritdoc />
    public override RateLimiterStatistics? GetStatistics()
    {
        var settings = Volatile.Read(ref _settings);
        var now = Now();
        var available = settings.Capacity - (Math.Max(Volatile.Read(ref _arrival), now) - now);
        return new RateLimiterStatistics
        {
            CurrentAvailablePermits = Math.Max(0, available / settings.Interval),
            CurrentQueuedCount = Volatile.Read(ref _waiting),
            TotalSuccessfulLeases = _successes.Sum(),
            TotalFailedLeases = Volatile.Read(ref _failures),
        };
    }

    /// <summary>Takes permits without a lease object (the pipeline's path); a refusal is counted by the caller.</summary>
    /// <param name="permitCount">How many permits.</param>
    /// <param name="retryAfter">When refused: the exact time until enough permits will be there.</param>
    /// <returns>Whether the permits were taken.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryTake(int permitCount, out TimeSpan retryAfter)
    {
        var settings = _settings;
        var cost = permitCount * settings.Interval;
        while (true)
        {
            var arrival = Volatile.Read(ref _arrival);
            var now = Now();
            var next = Math.Max(arrival, now) + cost;
            var excess = next - now - settings.Capacity;
            if (excess > 0)
            {
                retryAfter = TimeSpan.FromTicks((excess + Scale - 1) / Scale);
                return false;
            }

            if (Interlocked.CompareExchange(ref _arrival, next, arrival) == arrival)
            {
                retryAfter = TimeSpan.Zero;
                _successes.Increment();
                return true;
            }
        }
    }

    /// <summary>Waits for permits up to the maximum wait: the pipeline's and <c>AcquireAsync</c>'s path.</summary>
    internal async Task<bool> WaitAsync(int permitCount, CancellationToken cancellationToken)
    {
        var settings = _settings;
        var cost = permitCount * settings.Interval;
        long reserved, wait;
        while (true)
        {
            var arrival = Volatile.Read(ref _arrival);
            var now = Now();
            reserved = Math.Max(arrival, now) + cost;
            wait = reserved - now - settings.Capacity;
            if (wait > settings.MaxWait)
            {
                CountFailure();
                return false;
            }

            if (Interlocked.CompareExchange(ref _arrival, reserved, arrival) == arrival)
            {
                break;
            }
        }

        if (wait > 0)
        {
            Interlocked.Increment(ref _waiting);
            try
            {
                await Task.Delay(TimeSpan.FromTicks((wait + Scale - 1) / Scale), _clock.Provider, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Give the slot back if nobody reserved after it; otherwise it stays spent (never counted twice).
                Interlocked.CompareExchange(ref _arrival, reserved - cost, reserved);
                CountFailure();
                throw;
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
        }

        _successes.Increment();
        return true;
    }

    /// <inheritdoc />
    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        CheckPermitCount(permitCount);
        if (permitCount == 0)
        {
            return GetStatistics()!.CurrentAvailablePermits > 0 ? LimiterLease.Acquired : LimiterLease.Failed;
        }

        if (TryTake(permitCount, out var retryAfter))
        {
            return LimiterLease.Acquired;
        }

        CountFailure();
        return LimiterLease.FailedWithRetryAfter(retryAfter);
    }

    /// <inheritdoc />
    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (permitCount == 0 || Volatile.Read(ref _settings).MaxWait == 0)
        {
            return AttemptAcquireCore(permitCount);
        }

        CheckPermitCount(permitCount);
        if (TryTake(permitCount, out _) || await WaitAsync(permitCount, cancellationToken).ConfigureAwait(false))
        {
            return LimiterLease.Acquired;
        }

        return LimiterLease.FailedWithRetryAfter(RetryAfter(permitCount));
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        Interlocked.Exchange(ref _disposed, 1);
        base.Dispose(disposing);
    }

    /// <summary>Counts a refused acquisition (rare next to successes, so one shared counter is enough).</summary>
    internal void CountFailure() => Interlocked.Increment(ref _failures);

    private long Now() => (_clock.NowTicks - _origin) * Scale;

    private TimeSpan RetryAfter(int permitCount)
    {
        var settings = _settings;
        var now = Now();
        var excess = Math.Max(Volatile.Read(ref _arrival), now) + (permitCount * settings.Interval) - now - settings.Capacity;
        return TimeSpan.FromTicks(Math.Max(0, (excess + Scale - 1) / Scale));
    }

    private void CheckPermitCount(int permitCount)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var burst = Volatile.Read(ref _settings).Burst;
        if (permitCount < 0 || permitCount > burst)
        {
            throw new ArgumentOutOfRangeException(nameof(permitCount), permitCount, $"permitCount must be in [0, {burst}] (the burst).");
        }
    }

    private sealed class Settings
    {
        public Settings(TokenBucketLimiterOptions options)
        {
            options.Validate();
            Options = options.Clone();
            Burst = options.Burst;
            Interval = Math.Max(1, (long)Math.Round(Scale * TimeSpan.TicksPerSecond / options.PermitsPerSecond));
            Capacity = Burst * Interval;
            MaxWait = options.MaxWait.Ticks * Scale;
        }

        public TokenBucketLimiterOptions Options { get; }

        public int Burst { get; }

        /// <summary>Scaled ticks per permit.</summary>
        public long Interval { get; }

        /// <summary>Scaled ticks of a full bucket.</summary>
        public long Capacity { get; }

        public long MaxWait { get; }
    }
}
