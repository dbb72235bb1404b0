using System.Collections.Concurrent;
using System.Globalization;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.Extensions.Time.Testing;
using Resilience.Tests.Cancellation;

namespace Resilience.Grpc.Tests.Faults;

/// <summary>
/// Many callers at once make unary and streaming calls through one <see cref="ResilienceClientInterceptor"/> (retry with
/// a budget, a shared breaker, a concurrency limiter with a queue, a timeout) to a real Kestrel gRPC server that admits
/// every call through a <see cref="ResilienceServerInterceptor"/> with a concurrency limiter of its own and plays a
/// seeded fault per attempt; some callers' tokens are cancelled by the server mid-call, some by their callers at a
/// seeded moment, some calls have a deadline, some streams are disposed before their end. Afterwards every figure is
/// checked against what each attempt did: the server's log, the breaker's window, both limiters, the callers' results
/// and statuses, the token's registrations, the unobserved exceptions. Where the network makes an order racy (a timeout
/// can always beat a slow machine's answer), the check takes what the attempt did, as recorded below the interceptor,
/// and holds for every order.
/// </summary>
[Collection(FaultSoakCollection.Name)]
public sealed class GrpcFaultSoakTests : IDisposable
{
    private const int Callers = 12;
    private const int Calls = 240;
    private const int MaxRetries = 3;
    private const int PermitLimit = 6;
    private const int ServerPermitLimit = 4;

    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromMilliseconds(400);

    // A long-lived token (a host's) given to every caller that is never cancelled: nothing may stay registered on it.
    private readonly CancellationTokenSource _host = new();

    public void Dispose() => _host.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Every_attempt_outcome_and_permit_is_accounted_for(int seed)
    {
        var plans = GrpcCallPlan.Draw(
            seed,
            Calls,
            MaxRetries + 1,
            streamShare: 4,
            [
                (GrpcFault.Ok, 30),
                (GrpcFault.InvalidArgument, 6),
                (GrpcFault.Unavailable, 12),
                (GrpcFault.ResourceExhausted, 8),
                (GrpcFault.ResourceExhaustedForAnHour, 3),
                (GrpcFault.Internal, 8),
                (GrpcFault.Reset, 8),
                (GrpcFault.Slow, 3),
                (GrpcFault.Hang, 3),
            ],
            [(GrpcFault.Ok, 10), (GrpcFault.InvalidArgument, 2), (GrpcFault.Unavailable, 3), (GrpcFault.Internal, 2), (GrpcFault.Reset, 3), (GrpcFault.Hang, 2)],
            cancelShare: 8,
            deadlineShare: 8);

        // A breaker that never trips: its window must hold exactly what the attempts imply.
        var breaker = new CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 1_000_000, TimeProvider = new FakeTimeProvider() });
        var run = await SoakRun.RunAsync(plans, breaker, _host.Token);

        Assert.True(run.Problems.Count == 0, string.Join(Environment.NewLine, run.Problems));
        Assert.True(run.Unobserved.Count == 0, string.Join(Environment.NewLine, run.Unobserved));
        Assert.True(run.Budget.CanRetry, $"The budget ({run.Budget.Balance}) refused retries the checks assume were allowed.");
        AssertLimitersFull(run);
        Assert.Equal(0, TokenRegistrations.Count(_host));

        var window = breaker.GetSnapshot();
        Assert.Equal(CircuitState.Closed, window.State);
        Assert.Equal(run.Successes, window.Calls - window.Failures);
        Assert.InRange(window.Failures, run.Failures, run.Failures + run.EitherFailureOrIgnored);

        // Every kind of call and fault was met, so the figures above cover them all.
        Assert.All(Enum.GetValues<GrpcCallKind>(), kind => Assert.Contains(plans, plan => plan.Kind == kind));
        Assert.All(Enum.GetValues<GrpcFault>(), fault => Assert.Contains(plans, plan => plan.IsUnary && plan.Faults[0] == fault));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_tripped_breaker_refuses_calls_before_they_reach_the_server(int seed)
    {
        // Failures only (and callers cancelled, which count as nothing): the breaker opens once the window holds
        // MinimumThroughput calls, and stays open on a clock that never moves.
        var plans = GrpcCallPlan.Draw(
            seed,
            Calls,
            MaxRetries + 1,
            streamShare: 4,
            [(GrpcFault.Unavailable, 10), (GrpcFault.Internal, 10), (GrpcFault.Reset, 10), (GrpcFault.ResourceExhausted, 5), (GrpcFault.Hang, 2)],
            [(GrpcFault.Unavailable, 3), (GrpcFault.Internal, 3), (GrpcFault.Reset, 3), (GrpcFault.Hang, 1)]);
        var breaker = new CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 20, FailureRatio = 0.5, TimeProvider = new FakeTimeProvider() });
        var opened = new ConcurrentQueue<CircuitSnapshot>();
        breaker.Opened += (_, transition) => opened.Enqueue(transition.Window);
        var run = await SoakRun.RunAsync(plans, breaker, _host.Token);

        Assert.True(run.Problems.Count == 0, string.Join(Environment.NewLine, run.Problems));
        Assert.True(run.Unobserved.Count == 0, string.Join(Environment.NewLine, run.Unobserved));
        AssertLimitersFull(run);
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

    private static void AssertLimitersFull(SoakRun run)
    {
        // Every lease starts an attempt, but for a call whose caller ended it (cancelled, or its deadline passed) just as its
        // queued wait was served: no attempt starts once the caller has cancelled (one such lease per call at most).
        Assert.InRange(run.Limiter.TotalSuccessfulLeases, run.AttemptsRecorded, run.AttemptsRecorded + run.EndedByCallers);
        Assert.Equal((PermitLimit, 0L, 0L), (run.Limiter.CurrentAvailablePermits, run.Limiter.CurrentQueuedCount, run.Limiter.TotalFailedLeases));

        // Every call that reached its handler had a server permit; a call whose client gave up before the server's
        // pipeline ran (its token already cancelled) never asked for one.
        Assert.InRange(run.ServerLimiter.TotalSuccessfulLeases, run.Handled, run.Arrivals);
        Assert.Equal((ServerPermitLimit, 0L, 0L), (run.ServerLimiter.CurrentAvailablePermits, run.ServerLimiter.CurrentQueuedCount, run.ServerLimiter.TotalFailedLeases));
    }

    /// <summary>One soak run: the callers, the server and the checks of each call.</summary>
    private sealed class SoakRun
    {
        public List<string> Problems { get; } = [];

        public List<Exception> Unobserved { get; private set; } = [];

        public RetryBudget Budget { get; } = new(new RetryBudgetOptions { MaxTokens = 1000 });

        public System.Threading.RateLimiting.RateLimiterStatistics Limiter { get; private set; } = null!;

        public System.Threading.RateLimiting.RateLimiterStatistics ServerLimiter { get; private set; } = null!;

        public long AttemptsRecorded { get; private set; }

        public long Arrivals { get; private set; }

        public long Handled { get; private set; }

        public long Successes { get; private set; }

        /// <summary>Gets how many calls their caller ended: cancelled, or past their deadline.</summary>
        public long EndedByCallers { get; private set; }

        public long Failures { get; private set; }

        // Timed out just as the caller cancelled, or a stream disposed as the server reset it: the pipeline judged it
        // by which it saw first.
        public long EitherFailureOrIgnored { get; private set; }

        public List<int> Refused { get; } = [];

        private AttemptRecorder _recorder = null!;

        public IReadOnlyList<RecordedAttempt> AttemptsOf(int id) => _recorder.AttemptsOf(id);

        public static async Task<SoakRun> RunAsync(IReadOnlyList<GrpcCallPlan> plans, CircuitBreaker breaker, CancellationToken host)
        {
            var run = new SoakRun();
            var callers = plans.Where(static plan => plan.MayBeCancelled).ToDictionary(static plan => plan.Id, static _ => new CancellationTokenSource());
            using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = PermitLimit, QueueLimit = Calls });
            using var serverLimiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = ServerPermitLimit, QueueLimit = Calls });
            var pipeline = new ResiliencePipelineBuilder { Name = "soak", RetryAfterHint = GrpcOutcomes.RetryPushbackOf }
                .AddRetry(
                    new RetryOptions { MaxRetryAttempts = MaxRetries, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false, MaxRetryAfter = TimeSpan.FromSeconds(1), Budget = run.Budget },
                    GrpcOutcomes.IsTransientFailure)
                .AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure)
                .AddRateLimiter(limiter)
                .AddTimeout(AttemptTimeout)
                .Build();
            var shedding = new ResiliencePipelineBuilder { Name = "soak-server" }.AddRateLimiter(serverLimiter).Build();
            var results = new GrpcCallResult?[plans.Count];
            var arrivals = new ArrivalLog();
            var player = new FaultPlayer(id => callers[id].Cancel());
            var deadlines = new ConcurrentDictionary<int, DateTime>();
            bool Cancelled(int id) => callers.TryGetValue(id, out var caller) && caller.IsCancellationRequested;
            bool EndedByCaller(int id) => Cancelled(id) || (deadlines.TryGetValue(id, out var at) && DateTime.UtcNow >= at);
            run._recorder = new AttemptRecorder(Cancelled);
            var server = await GrpcTestServer.StartAsync(
                (request, context, _) => player.RespondAsync(request, context),
                options =>
                {
                    options.Interceptors.Add<ArrivalLogger>(arrivals);
                    options.Interceptors.Add<ResilienceServerInterceptor>(shedding);
                },
                (context, _) => player.EndStreamAsync(context));
            try
            {
                using var channel = GrpcChannel.ForAddress(server.Address);
                var invoker = channel.Intercept(run._recorder).Intercept(new ResilienceClientInterceptor(pipeline));
                var next = -1;
                async Task CallerAsync()
                {
                    for (var i = Interlocked.Increment(ref next); i < plans.Count; i = Interlocked.Increment(ref next))
                    {
                        var plan = plans[i];
                        DateTime? deadline = plan.Deadline is { } within ? deadlines[plan.Id] = DateTime.UtcNow + within : null;
                        var options = new CallOptions(plan.Headers(), deadline, callers.TryGetValue(plan.Id, out var caller) ? caller.Token : host);
                        if (plan.CancelAfter is { } after)
                        {
                            caller!.CancelAfter(after);
                        }

                        try
                        {
                            results[i] = await CallAsync(invoker, plan, options);
                        }
                        catch (Exception exception)
                        {
                            lock (run.Problems)
                            {
                                run.Problems.Add($"call {plan.Id} ({plan.Kind}) threw {exception}");
                            }
                        }
                    }
                }

                run.Unobserved = await UnobservedExceptions.LeftByAsync(
                    static exception => exception is RpcException or OperationCanceledException or ResilienceException,
                    () => Task.WhenAll(Enumerable.Range(0, Callers).Select(_ => Task.Run(CallerAsync))).WaitAsync(TimeSpan.FromMinutes(2)));
                run.Limiter = limiter.GetStatistics()!;
            }
            finally
            {
                // Stopped before its log and limiter are read: every handler has ended.
                await server.DisposeAsync();
            }

            run.ServerLimiter = serverLimiter.GetStatistics()!;
            run.Handled = server.Calls + server.StreamCalls;
            run.Arrivals = arrivals.Total;
            foreach (var plan in plans)
            {
                if (results[plan.Id] is { } result)
                {
                    run.Check(plan, result, arrivals.ArrivalsOf(plan.Id), EndedByCaller(plan.Id));
                }
            }

            run.AttemptsRecorded = run._recorder.Total;
            run.EndedByCallers = plans.Count(plan => EndedByCaller(plan.Id));
            if (arrivals.Total > run.AttemptsRecorded)
            {
                run.Problems.Add($"the server saw {arrivals.Total} calls, the client made {run.AttemptsRecorded} attempts");
            }

            foreach (var caller in callers.Values)
            {
                caller.Dispose();
            }

            return run;
        }

        /// <summary>Makes one call as its plan says; an exception other than a status is the test's failure.</summary>
        private static async Task<GrpcCallResult> CallAsync(CallInvoker invoker, GrpcCallPlan plan, CallOptions options)
        {
            var id = plan.Id.ToString(CultureInfo.InvariantCulture);
            switch (plan.Kind)
            {
                case GrpcCallKind.BlockingUnary:
                {
                    try
                    {
                        return new GrpcCallResult(invoker.BlockingUnaryCall(GrpcTestServer.Unary, null, options, $"u{id}"), null, Status.DefaultSuccess);
                    }
                    catch (RpcException exception)
                    {
                        // A blocking call has no call object: its status is the exception's.
                        return new GrpcCallResult(null, exception, exception.Status);
                    }
                }

                case GrpcCallKind.Unary:
                {
                    using var call = invoker.AsyncUnaryCall(GrpcTestServer.Unary, null, options, $"u{id}");
                    return await EndedAsync(async () => await call.ResponseAsync, call.GetStatus);
                }

                case GrpcCallKind.ServerStream:
                {
                    using var call = invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, options, $"s{id}");
                    return await EndedAsync(() => ReadAllAsync(call.ResponseStream), call.GetStatus);
                }

                case GrpcCallKind.ClientStream:
                {
                    using var call = invoker.AsyncClientStreamingCall(GrpcTestServer.ClientStreaming, null, options);
                    await TryAsync(() => WriteAsync(call.RequestStream, "a", "b", "c"));
                    return await EndedAsync(async () => await call.ResponseAsync, call.GetStatus);
                }

                case GrpcCallKind.Duplex:
                {
                    using var call = invoker.AsyncDuplexStreamingCall(GrpcTestServer.Duplex, null, options);
                    await TryAsync(() => WriteAsync(call.RequestStream, "a", "b"));
                    return await EndedAsync(() => ReadAllAsync(call.ResponseStream), call.GetStatus);
                }

                case GrpcCallKind.ServerStreamDisposed:
                {
                    using var call = invoker.AsyncServerStreamingCall(GrpcTestServer.Streaming, null, options, $"s{id}");
                    return new GrpcCallResult(null, null, null, await TryAsync(() => call.ResponseStream.MoveNext(CancellationToken.None)));
                }

                case GrpcCallKind.ClientStreamDisposed:
                {
                    using var call = invoker.AsyncClientStreamingCall(GrpcTestServer.ClientStreaming, null, options);
                    return new GrpcCallResult(null, null, null, await TryAsync(() => call.RequestStream.WriteAsync("a")));
                }

                default:
                {
                    using var call = invoker.AsyncDuplexStreamingCall(GrpcTestServer.Duplex, null, options);
                    await TryAsync(() => call.RequestStream.WriteAsync("a"));
                    return new GrpcCallResult(null, null, null, await TryAsync(() => call.ResponseStream.MoveNext(CancellationToken.None)));
                }
            }
        }

        /// <summary>Awaits a call's end: its response, or its status; then reads the call's status.</summary>
        private static async Task<GrpcCallResult> EndedAsync(Func<Task<string>> end, Func<Status> status)
        {
            try
            {
                var response = await end();
                return new GrpcCallResult(response, null, status());
            }
            catch (RpcException exception)
            {
                return new GrpcCallResult(null, exception, status());
            }
        }

        /// <summary>A write or read the caller tries: the status it fails with, if it does.</summary>
        private static async Task<RpcException?> TryAsync(Func<Task> action)
        {
            try
            {
                await action();
                return null;
            }
            catch (RpcException exception)
            {
                return exception;
            }
            catch (Exception exception) when (exception is InvalidOperationException or IOException or HttpRequestException)
            {
                // gRPC lets a write after the call ended, or the transport's failure of a write to a reset stream,
                // through as it is: no status to record.
                return null;
            }
        }

        private static async Task WriteAsync(IClientStreamWriter<string> writer, params string[] messages)
        {
            foreach (var message in messages)
            {
                await writer.WriteAsync(message);
            }

            await writer.CompleteAsync();
        }

        private static async Task<string> ReadAllAsync(IAsyncStreamReader<string> reader)
        {
            var messages = new List<string>();
            while (await reader.MoveNext(CancellationToken.None))
            {
                messages.Add(reader.Current);
            }

            return string.Join('|', messages);
        }

        /// <param name="cancelledAtEnd">Whether the caller's token was cancelled, or the call's deadline passed, by the end.</param>
        private void Check(GrpcCallPlan plan, GrpcCallResult result, IReadOnlyList<int> arrivals, bool cancelledAtEnd)
        {
            var attempts = _recorder.AttemptsOf(plan.Id);
            void Problem(string what) => Problems.Add($"call {plan.Id} {plan.Kind} [{string.Join(',', plan.Faults)}]: {what}");

            // (a) The attempts the interceptor made are numbered 1..n, and the server saw each at most once, no other, and
            // every one that it answered, failed, reset or held (a timed-out attempt may have been given up before it
            // arrived, and a stream disposed early before it was sent).
            if (!attempts.Select(static a => a.Number).SequenceEqual(Enumerable.Range(1, attempts.Count)))
            {
                Problem($"attempts numbered {string.Join(',', attempts.Select(static a => a.Number))}");
            }

            if (arrivals.Count != arrivals.Distinct().Count() || arrivals.Any(number => number < 1 || number > attempts.Count))
            {
                Problem($"the server saw attempts {string.Join(',', arrivals)}, the client made {attempts.Count}");
            }

            if (!plan.IsUnary)
            {
                CheckStream(plan, result, attempts, arrivals, cancelledAtEnd, Problem);
                return;
            }

            for (var i = 0; i < attempts.Count; i++)
            {
                var attempt = attempts[i];
                var fault = plan.FaultOf(attempt.Number);
                var last = i == attempts.Count - 1;
                var endedByCaller = IsEndedByCaller(plan, attempt);
                if (attempt.Status is not (StatusCode.Cancelled or StatusCode.DeadlineExceeded) && !arrivals.Contains(attempt.Number))
                {
                    Problem($"attempt {attempt.Number} ended with {Describe(attempt.Failure)} but never reached the server");
                }

                // What the fault makes of the attempt; any attempt may time out on a starved machine, or end as its
                // caller cancels it or its deadline passes.
                var expected = fault switch
                {
                    GrpcFault.Ok => attempt.Status == StatusCode.OK,
                    GrpcFault.InvalidArgument => attempt.Status == StatusCode.InvalidArgument,
                    GrpcFault.Unavailable => attempt.Status == StatusCode.Unavailable,
                    GrpcFault.ResourceExhausted or GrpcFault.ResourceExhaustedForAnHour => attempt.Status == StatusCode.ResourceExhausted,
                    GrpcFault.Internal => attempt.Status == StatusCode.Internal,
                    GrpcFault.Reset => IsReset(attempt.Failure),
                    GrpcFault.Slow => false,
                    _ => attempt.CallerCancelled && attempt.Status == StatusCode.Cancelled,
                };
                if (!expected && !attempt.TimedOut && !(endedByCaller && (plan.CancelAfter ?? plan.Deadline) is not null))
                {
                    Problem($"attempt {attempt.Number} ({fault}) ended with {Describe(attempt.Failure)}");
                }

                // The caller's token cancelled before the attempt's end reached the pipeline, or the deadline reported:
                // the call ends there.
                if ((attempt.CallerCancelled || endedByCaller) && !last)
                {
                    Problem($"attempt {attempt.Number} ended with {Describe(attempt.Failure)} as its caller ended the call, yet another followed");
                }

                // (b) What a breaker must have made of it, by the documented predicate: a failure is nothing once the
                // caller's token is cancelled, and the last attempt's failure, when the caller ended the call about
                // then, is one or nothing, as the breaker saw the token first or not.
                var failure = !attempt.CallerCancelled && !endedByCaller && (attempt.TimedOut || GrpcOutcomes.IsTransientStatus(attempt.Status));
                if (attempt.Status == StatusCode.OK)
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

                if (!last && !Retryable(plan, attempt))
                {
                    Problem($"attempt {attempt.Number} ended with {Describe(attempt.Failure)}, which is not retried, yet another followed");
                }
            }

            // (d) The caller got what the last attempt gave, as the documentation promises, and the call's status says so
            // (a caller that cancels as the last attempt fails may read gRPC's own Cancelled status of that attempt: the
            // cancellation completed gRPC's call before its failure did, with or without the interceptor).
            var final = attempts.Count > 0 ? attempts[^1] : null;
            var cancelled = cancelledAtEnd && IsEndedByCaller(plan, result.Failure);
            var callStatus = result.CallStatus?.StatusCode;
            if (callStatus != (result.Failure?.StatusCode ?? StatusCode.OK) && !(cancelledAtEnd && callStatus is StatusCode.Cancelled))
            {
                Problem($"the caller got {Describe(result.Failure)}, the call's status is {result.CallStatus}");
            }

            if (IsRefusal(result.Failure))
            {
                // Refused by the open circuit: before any attempt, or after one the retry would have repeated.
                Refused.Add(plan.Id);
                if (final is not null && (!Retryable(plan, final) || attempts.Count > MaxRetries))
                {
                    Problem($"refused by the circuit after attempt {final.Number}, which ended with {Describe(final.Failure)}");
                }

                return;
            }

            if (final is null)
            {
                // Cancelled by its caller before any attempt (waiting for a permit).
                if (!cancelled)
                {
                    Problem($"no attempt, yet the caller got {Describe(result.Failure)}");
                }

                return;
            }

            // Retries end at the last attempt allowed, at an outcome not retried, or when the caller ends the call.
            if (Retryable(plan, final) && attempts.Count <= MaxRetries && !cancelledAtEnd)
            {
                Problem($"the retries stopped after attempt {final.Number}, which ended with {Describe(final.Failure)}");
            }

            var delivered = final switch
            {
                { Failure: null } => result.Response == $"u{plan.Id}",
                { TimedOut: true } => result.Failure is { StatusCode: StatusCode.DeadlineExceeded, Status.DebugException: TimeoutRejectedException },
                _ => ReferenceEquals(result.Failure, final.Failure),
            };
            if (!delivered && !cancelled)
            {
                Problem($"the last attempt ended with {Describe(final.Failure)}, the caller got {Describe(result.Failure)}");
            }
        }

        private void CheckStream(GrpcCallPlan plan, GrpcCallResult result, IReadOnlyList<RecordedAttempt> attempts, IReadOnlyList<int> arrivals, bool cancelledAtEnd, Action<string> problem)
        {
            var fault = plan.Faults[0];
            var disposed = plan.Kind is GrpcCallKind.ServerStreamDisposed or GrpcCallKind.ClientStreamDisposed or GrpcCallKind.DuplexDisposed;
            if (attempts.Count > 1 || (!disposed && !cancelledAtEnd && arrivals.Count != attempts.Count))
            {
                problem($"{attempts.Count} attempts, {arrivals.Count} arrivals");
            }

            if (IsRefusal(result.Failure) || IsRefusal(result.EarlyFailure))
            {
                Refused.Add(plan.Id);
                if (attempts.Count != 0 || result.CallStatus is { StatusCode: not StatusCode.Unavailable })
                {
                    problem($"refused by the circuit after {attempts.Count} attempts, its status {result.CallStatus}");
                }

                return;
            }

            if (attempts.Count != 1)
            {
                // Cancelled by its caller while it waited for admission.
                if (!cancelledAtEnd)
                {
                    problem($"not refused, yet {attempts.Count} attempts");
                }

                return;
            }

            // (b) A stream is judged once, by how it ended for its caller: read to its end, or failed with a status
            // (a cancelled caller's, or one about the request, counts as nothing); disposed before its end, it counts as
            // nothing, unless gRPC failed a client stream's response (which the interceptor awaits from the start)
            // before the caller disposed it: a client stream's write that fails does not end it, its response does.
            var ending = !disposed ? result.Failure : plan.Kind == GrpcCallKind.ClientStreamDisposed ? null : result.EarlyFailure;
            if (!disposed && ending is null)
            {
                Successes++;
            }
            else if (ending is not null && GrpcOutcomes.IsTransientStatus(ending.StatusCode))
            {
                // Cancelled by its caller at the end, the failure may be the cancellation's, and counts as nothing.
                if (cancelledAtEnd)
                {
                    EitherFailureOrIgnored++;
                }
                else
                {
                    Failures++;
                }
            }
            else if (plan.Kind == GrpcCallKind.ClientStreamDisposed && fault == GrpcFault.Reset)
            {
                EitherFailureOrIgnored++;
            }

            if (disposed)
            {
                return;
            }

            // (d) What the caller of a stream read to its end got.
            var expected = fault switch
            {
                GrpcFault.Ok => result.Response == plan.Kind switch
                {
                    GrpcCallKind.ServerStream => $"s{plan.Id} 0|s{plan.Id} 1|s{plan.Id} 2",
                    GrpcCallKind.ClientStream => "a,b,c",
                    _ => "echo a|echo b",
                },
                GrpcFault.InvalidArgument => result.Failure is { StatusCode: StatusCode.InvalidArgument, Status.Detail: "scripted InvalidArgument" },
                GrpcFault.Unavailable => result.Failure is { StatusCode: StatusCode.Unavailable, Status.Detail: "scripted Unavailable" },
                GrpcFault.Internal => result.Failure is { StatusCode: StatusCode.Internal, Status.Detail: "scripted Internal" },
                GrpcFault.Reset => IsReset(result.Failure),
                _ => result.Failure?.StatusCode == StatusCode.Cancelled,
            };
            expected |= cancelledAtEnd && IsEndedByCaller(plan, result.Failure);
            var callStatus = result.CallStatus?.StatusCode;
            if (!expected || (callStatus != (result.Failure?.StatusCode ?? StatusCode.OK) && !(cancelledAtEnd && callStatus is StatusCode.Cancelled)))
            {
                problem($"the caller got {result.Response ?? Describe(result.Failure)}, the call's status is {result.CallStatus}");
            }
        }

        /// <summary>Whether a status is the caller's end of a call: <c>Cancelled</c>, or <c>DeadlineExceeded</c> for a call with a deadline.</summary>
        private static bool IsEndedByCaller(GrpcCallPlan plan, RpcException? failure) =>
            failure?.StatusCode == StatusCode.Cancelled || (plan.Deadline is not null && failure?.StatusCode == StatusCode.DeadlineExceeded);

        /// <summary>Whether the retry repeats an attempt that ended so, its caller's token not cancelled and its deadline not passed.</summary>
        private static bool Retryable(GrpcCallPlan plan, RecordedAttempt attempt) =>
            !attempt.CallerCancelled && !IsEndedByCaller(plan, attempt)
            && (attempt.TimedOut || (GrpcOutcomes.IsTransientStatus(attempt.Status) && plan.FaultOf(attempt.Number) != GrpcFault.ResourceExhaustedForAnHour));

        /// <summary>Whether an attempt ended as its caller ended the call: the token's cancellation, or the deadline gRPC reported.</summary>
        private static bool IsEndedByCaller(GrpcCallPlan plan, RecordedAttempt attempt) =>
            (attempt.CallerCancelled && attempt.Status == StatusCode.Cancelled) || (plan.Deadline is not null && attempt.Status == StatusCode.DeadlineExceeded);

        // gRPC reports a reset stream with a transient status of its own (not the server's scripted one).
        private static bool IsReset(RpcException? failure) =>
            failure is not null && GrpcOutcomes.IsTransientStatus(failure.StatusCode) && !failure.Status.Detail.StartsWith("scripted", StringComparison.Ordinal);

        private static bool IsRefusal(RpcException? failure) =>
            failure is { StatusCode: StatusCode.Unavailable, Status.DebugException: BrokenCircuitException };

        private static string Describe(RpcException? failure) => failure is null ? "OK" : $"{failure.StatusCode} ({failure.Status.Detail})";
    }
}
