using System.Globalization;
using System.Text;
using BedBureau.BedGrain.Domain;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Grpc;
using BedBureau.Gateway.Security;
using BedBureau.GrpcServer;
using BedBureau.Wire;
using Google.Protobuf;

namespace BedBureau.Gateway.Http;

/// <summary>
/// The patient and public reads, and the patient's cancellation, as JSON over HTTP/1.1, for
/// browsers: the same service methods the gRPC calls run (same validation, rate limits and
/// errors), messages in protobuf's canonical JSON mapping, errors as an HTTP status with
/// <c>{"error": {"code": 404, "status": "NOT_FOUND", "message": "[REASON] field: why"}}</c>.
/// </summary>
internal static partial class JsonApi
{
    /// <summary>Where a patient's access key may come from: a header (preferred) or, for EventSource, the query.</summary>
    public const string AccessKeyHeader = "X-Access-Key";

    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(20);

    public static void Map(IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1");
        v1.MapGet("/queue/{code}", (HttpContext http, string code, PatientService patients) =>
            RunAsync(http, "bedbureau.v1.PatientService/GetQueueStatus", context =>
                patients.GetQueueStatus(new GetQueueStatusRequest { HospitalizationCode = code, AccessKey = AccessKey(http) }, context)));
        v1.MapGet("/queue/{code}/events", (HttpContext http, string code, PatientService patients) => StreamAsync(http, code, patients));
        v1.MapPost("/queue/{code}/cancel", (HttpContext http, string code, PatientService patients, AuditTrail audit) => CancelAsync(http, code, patients, audit));
        v1.MapGet("/free-beds", (HttpContext http, ReferralService referrals, PatientRateLimiter limiter) =>
            RunAsync(http, "bedbureau.v1.ReferralService/SearchFreeBeds", context =>
            {
                limiter.Take(context);
                var query = http.Request.Query;
                return referrals.SearchPublicAsync(new SearchFreeBedsRequest
                {
                    BedProfileCode = query["profile"].ToString(),
                    RegionCode = query["region"].ToString(),
                    DateFrom = Date(query["from"], "from"),
                    DateTo = Date(query["to"], "to"),
                    MaxResults = Number(query["max_results"], "max_results"),
                });
            }));
        v1.MapGet("/regions", (HttpContext http, DirectoryService directory) =>
            RunAsync(http, "bedbureau.v1.DirectoryService/ListRegions", context => directory.ListRegions(new ListRegionsRequest(), context)));
        v1.MapGet("/bed-profiles", (HttpContext http, DirectoryService directory) =>
            RunAsync(http, "bedbureau.v1.DirectoryService/ListBedProfiles", context => directory.ListBedProfiles(new ListBedProfilesRequest
            {
                AgeGroup = http.Request.Query["age_group"].ToString().ToUpperInvariant() switch
                {
                    "" => AgeGroup.Unspecified,
                    "ADULT" => AgeGroup.Adult,
                    "CHILD" => AgeGroup.Child,
                    _ => throw DomainException.Invalid("age_group", "INVALID_AGE_GROUP", "must be ADULT or CHILD"),
                },
            }, context)));
        v1.MapGet("/hospitals", (HttpContext http, DirectoryService directory) =>
            RunAsync(http, "bedbureau.v1.DirectoryService/ListHospitals", context => directory.ListHospitals(new ListHospitalsRequest
            {
                RegionCode = http.Request.Query["region"].ToString(),
                BedProfileCode = http.Request.Query["profile"].ToString(),
                PageSize = Number(http.Request.Query["page_size"], "page_size"),
                PageToken = http.Request.Query["page_token"].ToString(),
            }, context)));
        v1.MapGet("/hospitals/{id}", (HttpContext http, string id, DirectoryService directory) =>
            RunAsync(http, "bedbureau.v1.DirectoryService/GetHospital", context => directory.GetHospital(new GetHospitalRequest { HospitalId = id }, context)));
    }

    private static string AccessKey(HttpContext http) =>
        http.Request.Headers[AccessKeyHeader].ToString() is { Length: > 0 } header ? header : http.Request.Query["access_key"].ToString();

    private static CalendarDate? Date(Microsoft.Extensions.Primitives.StringValues value, string field)
    {
        if (value.Count == 0 || value.ToString().Length == 0)
        {
            return null;
        }

        return DateOnly.TryParseExact(value.ToString(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)
            ? ContractMapping.ToProto(date)
            : throw DomainException.Invalid(field, "INVALID_DATE", "must be a date as YYYY-MM-DD");
    }

    private static int Number(Microsoft.Extensions.Primitives.StringValues value, string field) =>
        value.Count == 0 || value.ToString().Length == 0 ? 0
        : int.TryParse(value.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number
        : throw DomainException.Invalid(field, "INVALID_NUMBER", "must be a whole number");

    /// <param name="refused">For a mutation: records a refusal before it is sent; what to send instead when that fails.</param>
    private static async Task RunAsync<TResponse>(HttpContext http, string method, Func<ServerCallContext, Task<TResponse>> call, Func<Status, Task<Status?>>? refused = null)
        where TResponse : IMessage
    {
        var context = ServerCallContext.ForHttp(http, method, _ => Task.CompletedTask);
        TResponse response;
        try
        {
            response = await call(context).ConfigureAwait(false);
        }
        catch (Exception ex) when (ToStatus(ex) is { } status)
        {
            var sent = refused is null ? status : await refused(status).ConfigureAwait(false) ?? status;
            await WriteErrorAsync(http, context, sent).ConfigureAwait(false);
            return;
        }

        http.Response.ContentType = "application/json; charset=utf-8";
        http.Response.Headers.CacheControl = "no-store";
        await http.Response.WriteAsync(Formatter.Format(response), http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// PatientService.CancelReferral: the body is its request in JSON (requestId, reason,
    /// reasonText); the code comes from the path and the access key from the X-Access-Key header
    /// only, never the query: it stays out of URLs, and a page of another site cannot send it
    /// (the header, like the JSON body, needs a CORS preflight, which is never granted). Refusals
    /// are audited as the gRPC call's are; a cancellation is recorded with its commit.
    /// </summary>
    private static Task CancelAsync(HttpContext http, string code, PatientService patients, AuditTrail audit)
    {
        const string Method = "bedbureau.v1.PatientService/CancelReferral";
        var requestId = "";
        return RunAsync(http, Method, async context =>
        {
            var request = await ReadJsonAsync<PatientServiceCancelReferralRequest>(http, "a cancellation: requestId, reason and, for CANCELLATION_REASON_OTHER, reasonText").ConfigureAwait(false);
            requestId = request.RequestId;
            request.HospitalizationCode = code;
            request.AccessKey = http.Request.Headers[AccessKeyHeader].ToString();
            return await patients.CancelReferral(request, context).ConfigureAwait(false);
        }, status => audit.RecordRefusalAsync(Actor.Patient.OrganizationId, Method, code, requestId, status));
    }

    private const int MaxJsonBody = 16 * 1024;

    /// <summary>A request body in protobuf's JSON mapping (Content-Type application/json), of at most 16 KiB.</summary>
    private static async Task<T> ReadJsonAsync<T>(HttpContext http, string what)
        where T : IMessage, new()
    {
        if (!http.Request.HasJsonContentType())
        {
            throw DomainException.Invalid("body", "NOT_JSON", "must be JSON (Content-Type: application/json)");
        }

        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 4096, leaveOpen: true);
        var buffer = new char[MaxJsonBody + 1];
        var length = await reader.ReadBlockAsync(buffer.AsMemory(), http.RequestAborted).ConfigureAwait(false);
        if (length > MaxJsonBody)
        {
            throw DomainException.Invalid("body", "TOO_LARGE", $"must be at most {MaxJsonBody} characters");
        }

        try
        {
            return JsonParser.Default.Parse<T>(new string(buffer, 0, length));
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException)
        {
            throw DomainException.Invalid("body", "INVALID_JSON", $"must be {what}");
        }
    }

    /// <summary>
    /// Server-Sent Events over WatchQueueStatus: each status the watch sends is one
    /// <c>event: status</c> with the QueueStatus JSON; a failure before the stream starts is a
    /// plain JSON error, after it an <c>event: error</c>. Comments keep idle connections open.
    /// </summary>
    private static async Task StreamAsync(HttpContext http, string code, PatientService patients)
    {
        using var writeLock = new SemaphoreSlim(1);
        var started = false;
        async Task WriteAsync(string text)
        {
            await writeLock.WaitAsync(http.RequestAborted).ConfigureAwait(false);
            try
            {
                await http.Response.WriteAsync(text, http.RequestAborted).ConfigureAwait(false);
                await http.Response.Body.FlushAsync(http.RequestAborted).ConfigureAwait(false);
            }
            finally
            {
                writeLock.Release();
            }
        }

        var context = ServerCallContext.ForHttp(http, "bedbureau.v1.PatientService/WatchQueueStatus", async _ =>
        {
            http.Response.ContentType = "text/event-stream; charset=utf-8";
            http.Response.Headers.CacheControl = "no-store";
            http.Response.Headers["X-Accel-Buffering"] = "no";
            started = true;
            await WriteAsync($"retry: 3000\n\n").ConfigureAwait(false);
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var keepAlive = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(KeepAlive);
            while (await timer.WaitForNextTickAsync(stop.Token).ConfigureAwait(false))
            {
                if (started)
                {
                    await WriteAsync(": keep-alive\n\n").ConfigureAwait(false);
                }
            }
        }, stop.Token);
        try
        {
            var request = new WatchQueueStatusRequest { HospitalizationCode = code, AccessKey = AccessKey(http) };
            await patients.WatchQueueStatus(request, new EventWriter(WriteAsync), context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The browser went away.
        }
        catch (Exception ex) when (ToStatus(ex) is { } status)
        {
            if (started)
            {
                await WriteAsync($"event: error\ndata: {ErrorJson(status)}\n\n").ConfigureAwait(false);
            }
            else
            {
                await WriteErrorAsync(http, context, status).ConfigureAwait(false);
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await keepAlive.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private sealed class EventWriter(Func<string, Task> write) : IServerStreamWriter<WatchQueueStatusResponse>
    {
        public Task WriteAsync(WatchQueueStatusResponse message, CancellationToken cancellationToken = default) =>
            write($"event: status\ndata: {Formatter.Format(message.Status)}\n\n");
    }

    private static Status? ToStatus(Exception exception) => exception switch
    {
        RpcException rpc => rpc.Status,
        _ => ErrorMapping.Map(exception),
    };

    /// <summary>google/rpc/code.proto's HTTP mapping, as gRPC-JSON transcoding uses it.</summary>
    internal static int HttpStatus(StatusCode code) => code switch
    {
        StatusCode.OK => 200,
        StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.OutOfRange => 400,
        StatusCode.Unauthenticated => 401,
        StatusCode.PermissionDenied => 403,
        StatusCode.NotFound => 404,
        StatusCode.AlreadyExists or StatusCode.Aborted => 409,
        StatusCode.ResourceExhausted => 429,
        StatusCode.Cancelled => 499,
        StatusCode.Unimplemented => 501,
        StatusCode.Unavailable => 503,
        StatusCode.DeadlineExceeded => 504,
        _ => 500,
    };

    private static string ErrorJson(Status status)
    {
        var json = new StringBuilder("{\"error\":{\"code\":");
        json.Append(HttpStatus(status.Code).ToString(CultureInfo.InvariantCulture));
        json.Append(",\"status\":\"").Append(AuditTrail.StatusName(status.Code)).Append("\",\"message\":");
        json.Append(System.Text.Json.JsonSerializer.Serialize(status.Detail ?? ""));
        return json.Append("}}").ToString();
    }

    private static async Task WriteErrorAsync(HttpContext http, ServerCallContext context, Status status)
    {
        // As for gRPC: one line per failed call, named by its RPC (the URL may carry an access key).
        var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("BedBureau.Gateway.Http");
        LogCallFailed(logger, status.Code is StatusCode.Unknown or StatusCode.Internal or StatusCode.Unavailable or StatusCode.DataLoss or StatusCode.ResourceExhausted ? LogLevel.Warning : LogLevel.Information,
            context.Method, status.Code, HttpStatus(status.Code), status.Detail ?? "");
        http.Response.StatusCode = HttpStatus(status.Code);
        http.Response.ContentType = "application/json; charset=utf-8";
        http.Response.Headers.CacheControl = "no-store";
        if (context.ResponseTrailers.GetValue("retry-after") is { } retryAfter)
        {
            http.Response.Headers.RetryAfter = retryAfter;
        }

        await http.Response.WriteAsync(ErrorJson(status), http.RequestAborted).ConfigureAwait(false);
    }

    [LoggerMessage(EventName = "CallFailed", Message = "{Method} over HTTP failed with {StatusCode} ({HttpStatus}): {Detail}")]
    private static partial void LogCallFailed(ILogger logger, LogLevel level, string method, StatusCode statusCode, int httpStatus, string detail);
}
