using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Time.Testing;
using Resilience.Grpc.Tests;
using Resilience.Tests.Cancellation;

namespace Resilience.Http.Tests.Faults;

/// <summary>
/// Many callers at once send requests (HTTP/1.1 or HTTP/2) through one <see cref="ResilienceHandler"/> (retry with a
/// budget, a shared breaker, a concurrency limiter with a queue, a timeout) to a real Kestrel server that plays a seeded
/// fault per attempt; some callers' tokens are cancelled by the server mid-attempt, some by their callers at a seeded
/// moment. Afterwards every figure is checked against what each attempt did: the server's log, the breaker's window,
/// the limiter, the callers' results, the token's registrations, the unobserved exceptions. Where the network makes an
/// order racy (a timeout can always beat a slow machine's response), the check takes what the attempt did, as recorded
/// next to the network, and holds for every order.
/// </summary>
[Collection(FaultSoakCollection.Name)]
public sealed class HttpFaultSoakTests : IDisposable
{
    private const int Callers = 12;
    private const int Calls = 240;
    private const int MaxRetries = 3;
    private const int PermitLimit = 6;

    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromMilliseconds(400);

    // A long-lived token (a host's) given to every caller that is never cancelled: nothing may stay registered on it.
    private readonly CancellationTokenSource _host = new();

    public void Dispose() => _host.Dispose();

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(1, true)]
    [InlineData(2, true)]
    [InlineData(3, true)]
    public async Task Every_attempt_outcome_and_permit_is_accounted_for(int seed, bool http2)
    {
        var plans = HttpCallPlan.Draw(
            seed,
            Calls,
            MaxRetries + 1,
            cancelShare: 8,
            (HttpFault.Ok, 30),
            (HttpFault.NotFound, 6),
            (HttpFault.Unavailable, 12),
            (HttpFault.TooManyRequests, 8),
            (HttpFault.TooManyRequestsForAnHour, 3),
            (HttpFault.ServerError, 8),
            (HttpFault.Reset, 8),
            (HttpFault.Slow, 3),
            (HttpFault.Hang, 3));

        // A breaker that never trips: its window must hold exactly what the attempts imply.
        var breaker = new CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 1_000_000, TimeProvider = new FakeTimeProvider() });
        var run = await SoakRun.RunAsync(plans, breaker, http2, _host.Token);

        Assert.True(run.Problems.Count == 0, string.Join(Environment.NewLine, run.Problems));
        Assert.True(run.Unobserved.Count == 0, string.Join(Environment.NewLine, run.Unobserved));
        Assert.True(run.Budget.CanRetry, $"The budget ({run.Budget.Balance}) refused retries the checks assume were allowed.");
        // Every lease starts an attempt, but for a call whose caller cancelled just as its queued wait was served: no
        // attempt starts once the caller has cancelled (one such lease per cancelled call at most).
        Assert.InRange(run.Limiter.TotalSuccessfulLeases, run.AttemptsRecorded, run.AttemptsRecorded + run.CancelledByCallers);
        Assert.Equal((PermitLimit, 0L, 0L), (run.Limiter.CurrentAvailablePermits, run.Limiter.CurrentQueuedCount, run.Limiter.TotalFailedLeases));
        Assert.Equal(0, TokenRegistrations.Count(_host));

        var window = breaker.GetSnapshot();
        Assert.Equal(CircuitState.Closed, window.State);
        Assert.Equal(run.Successes, window.Calls - window.Failures);
        Assert.InRange(window.Failures, run.Failures, run.Failures + run.EitherFailureOrIgnored);

        // Every kind of fault was met, so the figures above cover them all.
        Assert.All(Enum.GetValues<HttpFault>(), fault => Assert.Contains(plans, plan => plan.Faults[0] == fault));
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    public async Task A_tripped_breaker_refuses_calls_before_they_reach_the_server(int seed, bool http2)
    {
        // Failures only (and callers cancelled, which count as nothing): the breaker opens once the window holds
        // MinimumThroughput calls, and stays open on a clock that never moves.
        var plans = HttpCallPlan.Draw(
            seed,
            Calls,
            MaxRetries + 1,
            cancelShare: 0,
            (HttpFault.Unavailable, 10),
            (HttpFault.ServerError, 10),
            (HttpFault.Reset, 10),
            (HttpFault.TooManyRequests, 5),
            (HttpFault.Hang, 2));
        var breaker = new CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 20, FailureRatio = 0.5, TimeProvider = new FakeTimeProvider() });
        var opened = new ConcurrentQueue<CircuitSnapshot>();
        breaker.Opened += (_, transition) => opened.Enqueue(transition.Window);
        var run = await SoakRun.RunAsync(plans, breaker, http2, _host.Token);

        Assert.True(run.Problems.Count == 0, string.Join(Environment.NewLine, run.Problems));
        Assert.True(run.Unobserved.Count == 0, string.Join(Environment.NewLine, run.Unobserved));
        // Every lease starts an attempt, but for a call whose caller cancelled just as its queued wait was served: no
        // attempt starts once the caller has cancelled (one such lease per cancelled call at most).
        Assert.InRange(run.Limiter.TotalSuccessfulLeases, run.AttemptsRecorded, run.AttemptsRecorded + run.CancelledByCallers);
        Assert.Equal((PermitLimit, 0L, 0L), (run.Limiter.CurrentAvailablePermits, run.Limiter.CurrentQueuedCount, run.Limiter.TotalFailedLeases));
        Assert.Equal(0, TokenRegistrations.Count(_host));

        // The window that opened it: at least MinimumThroughput failures (more when other attempts recorded theirs
        // while the one that tipped it summed the window), all of them failures, none of them a cancelled caller.
        var window = Assert.Single(opened);
        Assert.Equal(window.Calls, window.Failures);
        Assert.InRange(window.Calls, 20, run.Failures + run.EitherFailureOrIgnored);
        Assert.Equal(CircuitState.Open, breaker.State);

        // At most the calls in flight when it opened got past it; every later call was refused before any attempt.
        Assert.Equal(0, run.Successes);
        Assert.InRange(run.Refused.Count, Calls - Callers - 20, Calls);
        Assert.Contains(run.Refused, id => run.AttemptsOf(id).Count == 0);
    }

    /// <summary>One soak run: the callers, the server and the checks of each call.</summary>
    private sealed class SoakRun
    {
        public List<string> Problems { get; } = [];

        public List<Exception> Unobserved { get; private set; } = [];

        public RetryBudget Budget { get; } = new(new RetryBudgetOptions { MaxTokens = 1000 });

        public System.Threading.RateLimiting.RateLimiterStatistics Limiter { get; private set; } = null!;

        public long AttemptsRecorded { get; private set; }

        public long Successes { get; private set; }

        /// <summary>Gets how many calls their caller cancelled.</summary>
        public long CancelledByCallers { get; private set; }

        public long Failures { get; private set; }

        // Timed out just as the caller cancelled: the pipeline judged it by which it saw first.
        public long EitherFailureOrIgnored { get; private set; }

        public List<int> Refused { get; } = [];

        private AttemptRecorder _recorder = null!;

        public IReadOnlyList<RecordedAttempt> AttemptsOf(int id) => _recorder.AttemptsOf(id);

        public static async Task<SoakRun> RunAsync(IReadOnlyList<HttpCallPlan> plans, CircuitBreaker breaker, bool http2, CancellationToken host)
        {
            var run = new SoakRun();
            var callers = plans.Where(static plan => plan.MayBeCancelled).ToDictionary(static plan => plan.Id, static _ => new CancellationTokenSource());
            using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = PermitLimit, QueueLimit = Calls });
            var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { Name = "soak", RetryAfterHint = HttpOutcomes.RetryAfterOf }
                .AddRetry(
                    new RetryOptions { MaxRetryAttempts = MaxRetries, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false, MaxRetryAfter = TimeSpan.FromSeconds(1), Budget = run.Budget },
                    HttpOutcomes.IsTransientFailure)
                .AddCircuitBreaker(breaker, HttpOutcomes.IsTransientFailure)
                .AddRateLimiter(limiter)
                .AddTimeout(AttemptTimeout)
                .Build();
            var results = new HttpCallResult?[plans.Count];
            run._recorder = new AttemptRecorder(id => callers.TryGetValue(id, out var caller) && caller.IsCancellationRequested);
            var server = await SoakServer.StartAsync(id => callers[id].Cancel(), http2 ? HttpProtocols.Http2 : HttpProtocols.Http1);
            try
            {
                using var client = new HttpClient(new ResilienceHandler(pipeline) { InnerHandler = run._recorder });
                var next = -1;
                async Task CallerAsync()
                {
                    for (var i = Interlocked.Increment(ref next); i < plans.Count; i = Interlocked.Increment(ref next))
                    {
                        var plan = plans[i];
                        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.Address, $"/calls/{plan.Id}"))
                        {
                            // HTTP/2 without TLS, or HTTP/1.1: a reset is the stream's, or the connection's.
                            Version = http2 ? HttpVersion.Version20 : HttpVersion.Version11,
                            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                        };
                        plan.Stamp(request);
                        if (plan.CancelAfter is { } after)
                        {
                            callers[plan.Id].CancelAfter(after);
                        }

                        try
                        {
                            var token = callers.TryGetValue(plan.Id, out var caller) ? caller.Token : host;
                            using var response = plan.Synchronous && !http2 ? client.Send(request, token) : await client.SendAsync(request, token);
                            await response.Content.ReadAsStringAsync(CancellationToken.None);
                            results[i] = new HttpCallResult((int)response.StatusCode, null);
                        }
                        catch (Exception exception)
                        {
                            results[i] = new HttpCallResult(null, exception);
                        }
                    }
                }

                run.Unobserved = await UnobservedExceptions.LeftByAsync(
                    static exception => exception is HttpRequestException or OperationCanceledException or ResilienceException,
                    () => Task.WhenAll(Enumerable.Range(0, Callers).Select(_ => Task.Run(CallerAsync))).WaitAsync(TimeSpan.FromMinutes(2)));
                run.Limiter = limiter.GetStatistics()!;
            }
            finally
            {
                // Stopped before its log is read: a late arrival (an attempt the client gave up on) is in it.
                await server.DisposeAsync();
            }

            foreach (var plan in plans)
            {
                run.Check(plan, results[plan.Id]!, server.ArrivalsOf(plan.Id), callers.TryGetValue(plan.Id, out var caller) ? caller : null);
            }

            run.AttemptsRecorded = run._recorder.Total;
            run.CancelledByCallers = callers.Values.Count(static caller => caller.IsCancellationRequested);
            if (server.Total > run.AttemptsRecorded)
            {
                run.Problems.Add($"the server saw {server.Total} requests, the client sent {run.AttemptsRecorded} attempts");
            }

            foreach (var caller in callers.Values)
            {
                caller.Dispose();
            }

            return run;
        }

        private void Check(HttpCallPlan plan, HttpCallResult result, IReadOnlyList<string> arrivals, CancellationTokenSource? caller)
        {
            var attempts = _recorder.AttemptsOf(plan.Id);
            void Problem(string what) => Problems.Add($"call {plan.Id} [{string.Join(',', plan.Faults)}]: {what}");

            // (a) The attempts the adapter made are numbered 1..n, and the server saw each at most once, no other, and
            // every one that it answered, reset or held (a timed-out attempt may have been given up before it arrived).
            if (!attempts.Select(static a => a.Number).SequenceEqual(Enumerable.Range(1, attempts.Count)))
            {
                Problem($"attempts numbered {string.Join(',', attempts.Select(static a => a.Number))}");
            }

            if (arrivals.Count != arrivals.Distinct().Count())
            {
                Problem($"the server saw attempts {string.Join(';', arrivals)}: one twice");
            }

            foreach (var arrival in arrivals)
            {
                if (!int.TryParse(arrival, CultureInfo.InvariantCulture, out var number) || number < 1 || number > attempts.Count)
                {
                    Problem($"the server saw attempt '{arrival}', the client sent {attempts.Count}");
                }
            }

            var cancelledAtEnd = caller?.IsCancellationRequested == true;
            for (var i = 0; i < attempts.Count; i++)
            {
                var attempt = attempts[i];
                var fault = plan.FaultOf(attempt.Number);
                var last = i == attempts.Count - 1;
                var arrived = arrivals.Contains(attempt.Number.ToString(CultureInfo.InvariantCulture));
                var timedOut = attempt.IsCancelled && !attempt.CallerCancelled;
                if (!attempt.IsCancelled && !arrived)
                {
                    Problem($"attempt {attempt.Number} ended with {Describe(attempt)} but never reached the server");
                }

                // What the fault makes of the attempt; any attempt may time out on a starved machine.
                var expected = fault switch
                {
                    HttpFault.Ok => attempt.Status == 200,
                    HttpFault.NotFound => attempt.Status == 404,
                    HttpFault.Unavailable => attempt.Status == 503,
                    HttpFault.TooManyRequests or HttpFault.TooManyRequestsForAnHour => attempt.Status == 429,
                    HttpFault.ServerError => attempt.Status == 500,
                    HttpFault.Reset => attempt.IsReset,
                    HttpFault.Slow => false,
                    _ => attempt.CallerCancelled && attempt.IsCancelled,
                };
                var cancelledByCaller = plan.CancelAfter is not null && attempt.CallerCancelled && attempt.IsCancelled;
                if (!expected && !timedOut && !cancelledByCaller)
                {
                    Problem($"attempt {attempt.Number} ({fault}) ended with {Describe(attempt)}");
                }

                if (attempt.CallerCancelled && !last)
                {
                    Problem($"attempt {attempt.Number} ended with the caller's cancellation, yet another followed");
                }

                // (b) What a breaker must have made of it, by the documented predicate: a failure that ended the call as
                // its caller cancelled it is one or nothing, as the breaker saw the token first or not.
                var failure = !attempt.CallerCancelled && (attempt.Status is not { } status || HttpOutcomes.IsTransientStatus((HttpStatusCode)status));
                if (attempt.Status is { } answered && !HttpOutcomes.IsTransientStatus((HttpStatusCode)answered))
                {
                    Successes++;
                }
                else if (failure && last && cancelledAtEnd)
                {
                    EitherFailureOrIgnored++;
                }
                else if (failure)
                {
                    Failures++;
                }

                // The retry: every attempt but the last was one to retry, and the last one ended the call.
                var retryable = timedOut || attempt.IsReset || (attempt.Status is 503 or 500 || (attempt.Status == 429 && fault == HttpFault.TooManyRequests));
                if (!last && !retryable)
                {
                    Problem($"attempt {attempt.Number} ended with {Describe(attempt)}, which is not retried, yet another followed");
                }
            }

            // (d) The caller got what the last attempt gave, as the documentation promises.
            var final = attempts.Count > 0 ? attempts[^1] : null;
            var finalRetryable = final is not null && !final.CallerCancelled
                && (final.IsReset || final.Status is 503 or 500 || (final.Status == 429 && plan.FaultOf(final.Number) == HttpFault.TooManyRequests) || (final.IsCancelled && !cancelledAtEnd));
            if (result.Failure is BrokenCircuitException)
            {
                // Refused by the open circuit: before any attempt, or after one the retry would have repeated.
                Refused.Add(plan.Id);
                if (final is not null && (!finalRetryable || attempts.Count > MaxRetries))
                {
                    Problem($"refused by the circuit after attempt {final.Number}, which ended with {Describe(final)}");
                }

                return;
            }

            var cancelled = cancelledAtEnd && IsCallersCancellation(result, caller!);
            if (final is null)
            {
                // Cancelled by its caller before any attempt (waiting for a permit).
                if (!cancelled)
                {
                    Problem($"no attempt, yet the caller got {Describe(result)}");
                }

                return;
            }

            // Retries end at the last attempt allowed, at an outcome not retried, or when the caller cancels.
            if (finalRetryable && attempts.Count <= MaxRetries && !cancelledAtEnd)
            {
                Problem($"the retries stopped after attempt {final.Number}, which ended with {Describe(final)}");
            }

            var delivered = final switch
            {
                { Status: { } status } => result.Status == status,
                { CallerCancelled: true, IsCancelled: true } => IsCallersCancellation(result, caller!),
                { IsReset: true } => ReferenceEquals(result.Failure, final.Failure),
                _ when cancelledAtEnd => IsCallersCancellation(result, caller!) || result.Failure is TimeoutRejectedException,
                _ => result.Failure is TimeoutRejectedException,
            };
            if (!delivered && !cancelled)
            {
                Problem($"the last attempt ended with {Describe(final)}, the caller got {Describe(result)}");
            }
        }

        private static bool IsCallersCancellation(HttpCallResult result, CancellationTokenSource caller) =>
            result.Failure is TaskCanceledException cancelled && cancelled.CancellationToken == caller.Token;

        private static string Describe(RecordedAttempt attempt) =>
            attempt.Status is { } status ? status.ToString(CultureInfo.InvariantCulture) : $"{attempt.Failure!.GetType().Name} (caller cancelled: {attempt.CallerCancelled})";

        private static string Describe(HttpCallResult result) =>
            result.Status is { } status ? status.ToString(CultureInfo.InvariantCulture) : $"{result.Failure!.GetType().Name}: {result.Failure.Message}";
    }
}
