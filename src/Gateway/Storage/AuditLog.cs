using System.Data.Common;
using System.Text.RegularExpressions;

namespace BedBureau.Gateway.Storage;

/// <summary>One entry of the append-only audit trail: who did what to what, when, and how it ended.</summary>
/// <param name="ActorOrganizationId">The authenticated organisation; empty when the caller was not authenticated.</param>
/// <param name="Action">The RPC's full name ("bedbureau.v1.ReferralService/CancelReferral") or an admin action ("admin/RevokeKey").</param>
/// <param name="Target">A hospitalization code, hospital id, "hospital/profile", organisation or key id.</param>
/// <param name="Outcome">"OK" or the gRPC status code name.</param>
/// <param name="Reason">The machine-readable reason of a failure ("NOT_YOUR_HOSPITAL"), else empty.</param>
public sealed record AuditRecord(
    long Id,
    string ActorOrganizationId,
    string Action,
    string Target,
    DateTimeOffset OccurredAt,
    string RequestId,
    string Outcome,
    string Reason);

/// <summary>What an admin asks of the trail: optional filters, keyset paging by id.</summary>
public sealed record AuditQuery(string? ActorOrganizationId, string? Action, string? Target, DateTimeOffset? From, DateTimeOffset? To, long AfterId, int Limit);

/// <summary>
/// The audit trail in the audit_records table. Appends are group-committed (one transaction and
/// one fsync for many calls); a caller's append returns only once its record is durable.
/// Records never hold an IIN: any run of 12 digits in a caller-chosen text is masked.
/// </summary>
public sealed partial class AuditLog : IAsyncDisposable
{
    private const int MaxText = 200;
    private readonly Func<CancellationToken, ValueTask<DbConnection>> _open;
    private readonly SqlDialect _dialect;
    private readonly Batcher<AuditRecord, bool> _committer;

    public AuditLog(Func<CancellationToken, ValueTask<DbConnection>> open, SqlDialect dialect, int writers)
    {
        _open = open;
        _dialect = dialect;
        _committer = new Batcher<AuditRecord, bool>(CommitBatchAsync, maxBatchSize: 256, writers, queueCapacity: 20_000, "The database did not commit the audit record.");
    }

    public Task AppendAsync(AuditRecord record, CancellationToken cancellationToken = default) =>
        _committer.SubmitAsync(Clean(record), cancellationToken);

    /// <summary>The contract's RPC behind each operation a grain records with its idempotency key.</summary>
    private static readonly Dictionary<string, string> GrainOperations = new(StringComparer.Ordinal)
    {
        ["ReportBeds"] = "bedbureau.v1.HospitalService/ReportBeds",
        ["SetAdmissionCapacity"] = "bedbureau.v1.HospitalService/SetAdmissionCapacity",
        ["ScheduleReferral"] = "bedbureau.v1.HospitalService/ScheduleReferral",
        ["AdmitPatient"] = "bedbureau.v1.HospitalService/AdmitPatient",
        ["RefusePatient"] = "bedbureau.v1.HospitalService/RefusePatient",
        ["RegisterReferral"] = "bedbureau.v1.ReferralService/RegisterReferral",
        ["CancelReferral"] = "bedbureau.v1.ReferralService/CancelReferral",
        ["RescheduleReferral"] = "bedbureau.v1.ReferralService/RescheduleReferral",
        ["CancelReferralByPatient"] = "bedbureau.v1.PatientService/CancelReferral",
    };

    /// <summary>
    /// The audit records of one grain commit, written in the commit's own transaction: the
    /// caller's change (its idempotency record names the operation and request id), or changes
    /// the bureau made by itself (no-shows), one per referral event.
    /// </summary>
    internal static IEnumerable<AuditRecord> OfGrainChange(BedBureau.BedGrain.Domain.BedGrainKey key, BedBureau.BedGrain.Storage.BedGrainChange change)
    {
        if (change.Idempotency is { } record)
        {
            var action = GrainOperations.TryGetValue(record.Operation, out var rpc) ? rpc : $"grain/{record.Operation}";
            var target = record.HospitalizationCode.Length > 0 ? record.HospitalizationCode
                : record.Operation == "ReportBeds" || record.Operation == "SetAdmissionCapacity" ? $"{key.HospitalId}/{key.ProfileCode}"
                : key.HospitalId;
            // Grains key idempotency records "{organisation}/{request id}".
            var prefix = change.ActorOrganizationId + "/";
            var requestId = record.Key.StartsWith(prefix, StringComparison.Ordinal) ? record.Key[prefix.Length..] : record.Key;
            yield return Clean(new AuditRecord(0, change.ActorOrganizationId, action, target, record.CreatedAt, requestId, "OK", ReasonOf(change)));
            yield break;
        }

        foreach (var e in change.Events)
        {
            yield return Clean(new AuditRecord(0, e.ActorOrganizationId, $"bureau/{e.Action}", e.HospitalizationCode, e.OccurredAt, "", "OK", ""));
        }
    }

    /// <summary>
    /// What a caller's change did, in words: the counts a census report set, the slots a calendar
    /// change set, or the reason its referral event gives.
    /// </summary>
    internal static string ReasonOf(BedBureau.BedGrain.Storage.BedGrainChange change)
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        if (change.Census is { } c)
        {
            return string.Create(invariant, $"census reported at {c.ReportedAt:yyyy-MM-ddTHH:mm:sszzz}: total {c.Total}, occupied {c.Occupied}, free {c.Free} (men {c.FreeMale}, women {c.FreeFemale})");
        }

        if (change.Calendar.Count > 0)
        {
            // The record's text is clipped: the first dates say what was set, the count how much.
            return string.Create(invariant, $"slots set for {change.Calendar.Count} date(s): ") +
                string.Join(", ", change.Calendar.OrderBy(d => d.Date).Select(d => string.Create(invariant, $"{d.Date:yyyy-MM-dd} {d.Slots}")));
        }

        return change.Events is [var e] ? e.Reason : "";
    }

    /// <summary>The record as stored: caller-chosen texts clipped and masked.</summary>
    internal static AuditRecord Clean(AuditRecord record) => record with
    {
        Target = Mask(record.Target),
        RequestId = Mask(record.RequestId),
        Reason = Mask(record.Reason),
        ActorOrganizationId = Clip(record.ActorOrganizationId),
    };

    /// <summary>The SQL and parameters that append one record (also inside another transaction).</summary>
    internal static (string Sql, (string Name, object? Value)[] Parameters) Insert(AuditRecord record, SqlDialect dialect) =>
        ("""
        INSERT INTO audit_records (actor_organization_id, action, target, occurred_at, request_id, outcome, reason)
        VALUES (@actor, @action, @target, @at, @request, @outcome, @reason)
        """,
        [("@actor", record.ActorOrganizationId), ("@action", record.Action), ("@target", record.Target),
         ("@at", dialect.Instant(record.OccurredAt)),
         ("@request", record.RequestId), ("@outcome", record.Outcome), ("@reason", record.Reason)]);

    /// <summary>
    /// IINs (and BINs) are 12 digits: such a run never reaches the trail, whatever a caller sends.
    /// A UUID is kept whole (its last group is all digits once in ~280 UUIDs, and a UUID is the
    /// usual request id: masked, the trail could no longer tell such requests apart).
    /// </summary>
    internal static string Mask(string text) =>
        TwelveDigitsOutsideUuids().Replace(Clip(text), match => match.Groups["uuid"].Success ? match.Value : "############");

    private static string Clip(string text) => text.Length <= MaxText ? text : text[..MaxText];

    [GeneratedRegex(@"(?<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)|\d{12}")]
    private static partial Regex TwelveDigitsOutsideUuids();

    private async Task<bool[]> CommitBatchAsync(IReadOnlyList<AuditRecord> records, CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var record in records)
        {
            var (sql, parameters) = Insert(record, _dialect);
            await using var command = SqlCommands.Create(connection, transaction, sql, parameters);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new bool[records.Count];
    }

    public async Task<IReadOnlyList<AuditRecord>> ListAsync(AuditQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var where = new List<string> { "id > @after" };
        SqlCommands.Add(command, "@after", query.AfterId);
        if (!string.IsNullOrEmpty(query.ActorOrganizationId))
        {
            where.Add("actor_organization_id = @actor");
            SqlCommands.Add(command, "@actor", query.ActorOrganizationId);
        }

        if (!string.IsNullOrEmpty(query.Action))
        {
            where.Add("action = @action");
            SqlCommands.Add(command, "@action", query.Action);
        }

        if (!string.IsNullOrEmpty(query.Target))
        {
            where.Add("target = @target");
            SqlCommands.Add(command, "@target", query.Target);
        }

        if (query.From is { } from)
        {
            where.Add("occurred_at >= @from");
            SqlCommands.Add(command, "@from", _dialect.Instant(from));
        }

        if (query.To is { } to)
        {
            where.Add("occurred_at < @to");
            SqlCommands.Add(command, "@to", _dialect.Instant(to));
        }

        command.CommandText = $"""
            SELECT id, actor_organization_id, action, target, occurred_at, request_id, outcome, reason
            FROM audit_records WHERE {string.Join(" AND ", where)} ORDER BY id LIMIT {query.Limit}
            """;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var records = new List<AuditRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            records.Add(new AuditRecord(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), _dialect.ReadInstant(reader, 4),
                reader.GetString(5), reader.GetString(6), reader.GetString(7)));
        }

        return records;
    }

    public ValueTask DisposeAsync() => _committer.DisposeAsync();
}
