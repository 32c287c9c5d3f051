using System.Data.Common;
using System.Runtime.CompilerServices;
using System.Text.Json;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;

namespace BedBureau.Gateway.Storage;

/// <summary>The SQL the two databases differ in: JSON columns, instants (timestamptz on PostgreSQL, Unix milliseconds on SQLite) and a batch of grain keys as a table.</summary>
public sealed record SqlDialect(string Name, Func<string, string> Json)
{
    public static readonly SqlDialect Postgres = new("PostgreSQL", parameter => $"CAST({parameter} AS jsonb)");
    public static readonly SqlDialect Sqlite = new("SQLite", parameter => parameter);

    /// <summary>An instant as this database's parameter value.</summary>
    public object Instant(DateTimeOffset at) => this == Postgres ? at.ToUniversalTime() : at.ToUnixTimeMilliseconds();

    public DateTimeOffset ReadInstant(DbDataReader reader, int ordinal) =>
        this == Postgres ? reader.GetFieldValue<DateTimeOffset>(ordinal) : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(ordinal));

    /// <summary>
    /// A batch's grain keys as a table <c>k(h, p)</c> (<see cref="KeyParameters"/>): PostgreSQL
    /// unnests two arrays, SQLite reads a JSON array of pairs. Joined with CROSS JOIN, which
    /// SQLite takes as "keys first", so each key is an index lookup.
    /// </summary>
    public string Keys => this == Postgres
        ? "unnest(CAST(@hospitals AS text[]), CAST(@profiles AS text[])) AS k(h, p)"
        : "(SELECT json_extract(value, '$[0]') AS h, json_extract(value, '$[1]') AS p FROM json_each(@keys)) AS k";

    public (string Name, object? Value)[] KeyParameters(IReadOnlyCollection<BedGrainKey> keys) => this == Postgres
        ? [("@hospitals", keys.Select(k => k.HospitalId).ToArray()), ("@profiles", keys.Select(k => k.ProfileCode).ToArray())]
        : [("@keys", JsonSerializer.Serialize(keys.Select(k => new[] { k.HospitalId, k.ProfileCode })))];
}

public sealed record GroupCommitOptions
{
    /// <summary>Most grain commits in one transaction.</summary>
    public int MaxBatchSize { get; init; } = 256;

    /// <summary>Transactions committing at once (SQLite serializes writers: keep 1 there).</summary>
    public int Writers { get; init; } = 2;

    /// <summary>Batches of grain loads running at once (each one round trip of set-based queries).</summary>
    public int Readers { get; init; } = 2;

    /// <summary>Commits (and loads) waiting beyond this make callers wait to queue (back-pressure).</summary>
    public int QueueCapacity { get; init; } = 20_000;

    /// <summary>Terminal referrals older than this are not loaded into grains (they stay in the database).</summary>
    public TimeSpan RetainTerminalReferrals { get; init; } = TimeSpan.FromDays(60);
}

/// <summary>
/// The grains' storage port on PostgreSQL or SQLite: each commit is a version check on the
/// grain's row plus the delta (days, referrals, events, idempotency record), and concurrent
/// commits of many grains go through one transaction (group commit).
/// </summary>
public sealed class SqlBedGrainStorage : IBedGrainStorage, IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General);
    private readonly Func<CancellationToken, ValueTask<DbConnection>> _open;
    private readonly SqlDialect _dialect;
    private readonly GroupCommitOptions _options;
    private readonly TimeProvider _time;
    private readonly Batcher<GrainWrite, bool> _committer;
    private readonly Batcher<SnapshotLoad, BedGrainSnapshot?> _snapshotLoader;
    private readonly Batcher<ReferralsLoad, BedGrainReferrals?> _referralsLoader;
    private readonly SharedStrings _shared = new();
    private readonly string _snapshotsQuery;
    private readonly string _referralsQuery;
    private readonly string _referralChangesQuery;
    private readonly string _dueReferralsQuery;

    private readonly WarmConnections _writerConnections;

    public SqlBedGrainStorage(Func<CancellationToken, ValueTask<DbConnection>> open, SqlDialect dialect, GroupCommitOptions options, TimeProvider time, StorageMetrics? metrics = null, string? notifyAs = null)
    {
        NotifyAs = notifyAs;
        _open = open;
        _dialect = dialect;
        _options = options;
        _time = time;
        _writerConnections = new WarmConnections(open, time);
        _committer = new Batcher<GrainWrite, bool>(CommitBatchAsync, options.MaxBatchSize, options.Writers, options.QueueCapacity, "The database did not commit the write.", metrics is null ? null : metrics.BatchCommitted);
        _snapshotsQuery = SnapshotsQuery(dialect);
        _referralsQuery = ReferralsQuery(dialect);
        _referralChangesQuery = ReferralChangesQuery(dialect);
        _dueReferralsQuery = DueReferralsQuery(dialect);
        _snapshotLoader = new Batcher<SnapshotLoad, BedGrainSnapshot?>(LoadSnapshotsAsync, options.MaxBatchSize, options.Readers, options.QueueCapacity, "The database did not load the grain.");
        _referralsLoader = new Batcher<ReferralsLoad, BedGrainReferrals?>(LoadReferralsAsync, options.MaxBatchSize, options.Readers, options.QueueCapacity, "The database did not load the grain's referrals.");
    }

    private sealed record GrainWrite(BedGrainKey Key, long ExpectedVersion, BedGrainChange Change);

    /// <summary>
    /// On PostgreSQL, this node's id when nodes tell each other of their commits: each batch then
    /// notifies the grains it committed (<see cref="GrainChangeNotices"/>). Null: nobody is told.
    /// </summary>
    public string? NotifyAs { get; }

    public async Task CommitAsync(BedGrainKey key, long expectedVersion, BedGrainChange change, CancellationToken cancellationToken)
    {
        if (!await _committer.SubmitAsync(new GrainWrite(key, expectedVersion, change), cancellationToken).ConfigureAwait(false))
        {
            throw new StorageConflictException($"{key}: the stored version is not {expectedVersion}");
        }
    }

    /// <summary>
    /// One transaction: first every write's version check (compare-and-set on its grain row),
    /// then the deltas of the writes whose check passed. A write that lost the race changes
    /// nothing and fails alone with a conflict.
    /// </summary>
    private async Task<bool[]> CommitBatchAsync(IReadOnlyList<GrainWrite> writes, CancellationToken cancellationToken)
    {
        // On PostgreSQL the connection the last batch used: a warm backend (see WarmConnections).
        var connection = await _writerConnections.TakeAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var committed = await CommitBatchAsync(connection, writes, cancellationToken).ConfigureAwait(false);
            await _writerConnections.ReturnAsync(connection).ConfigureAwait(false);
            return committed;
        }
        catch
        {
            // A connection that failed a batch goes back to the pool (which drops it when broken), never to a writer.
            await _writerConnections.DiscardAsync(connection).ConfigureAwait(false);
            throw;
        }
    }

    private async Task<bool[]> CommitBatchAsync(DbConnection connection, IReadOnlyList<GrainWrite> writes, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        // PostgreSQL: a statement per table for the whole batch, not per row (parsing and
        // planning hundreds of statements cost more than the fsync). A grain twice in one batch
        // (a stale activation racing the live one) keeps the row-by-row order of checks.
        if (connection is Npgsql.NpgsqlConnection npgsql && writes.Select(w => w.Key).Distinct().Count() == writes.Count)
        {
            var result = await PostgresBatch.CommitAsync(npgsql, (Npgsql.NpgsqlTransaction)transaction, writes.Select(w => (w.Key, w.ExpectedVersion, w.Change)).ToArray(), NotifyAs, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return result;
        }

        var checks = writes.Select(VersionCheck).ToArray();
        var affected = await ExecuteAsync(connection, transaction, checks, cancellationToken).ConfigureAwait(false);
        var committed = affected.Select(rows => rows == 1).ToArray();
        var deltas = writes.Where((_, i) => committed[i]).SelectMany(Delta).ToArray();
        await ExecuteAsync(connection, transaction, deltas, cancellationToken).ConfigureAwait(false);
        await NotifyAsync(connection, transaction, writes, committed, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return committed;
    }

    /// <summary>The row-by-row path's notice (PostgreSQL when a grain is twice in the batch); the set-based path sends it with its deltas.</summary>
    private async Task NotifyAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<GrainWrite> writes, bool[] committed, CancellationToken cancellationToken)
    {
        if (NotifyAs is { } node && connection is Npgsql.NpgsqlConnection npgsql
            && GrainChangeNotices.Command(node, writes.Where((_, i) => committed[i]).Select(w => (w.Key, w.Change))) is { } notify)
        {
            await using var batch = new Npgsql.NpgsqlBatch(npgsql, (Npgsql.NpgsqlTransaction)transaction) { BatchCommands = { notify } };
            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Runs the statements in order, in one round trip where the driver batches; returns rows affected by each.</summary>
    private static async Task<int[]> ExecuteAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<Statement> statements, CancellationToken cancellationToken)
    {
        var affected = new int[statements.Count];
        if (statements.Count == 0)
        {
            return affected;
        }

        if (connection.CanCreateBatch)
        {
            await using var batch = connection.CreateBatch();
            batch.Transaction = transaction;
            foreach (var statement in statements)
            {
                batch.BatchCommands.Add(SqlCommands.Create(batch, statement.Sql, statement.Parameters));
            }

            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < statements.Count; i++)
            {
                affected[i] = batch.BatchCommands[i].RecordsAffected;
            }

            return affected;
        }

        // No batches (SQLite): a batch repeats a few statements for many grains, so each is
        // prepared once and run again with the next row's values.
        var prepared = new Dictionary<string, DbCommand>(StringComparer.Ordinal);
        try
        {
            for (var i = 0; i < statements.Count; i++)
            {
                var (sql, parameters) = statements[i];
                if (prepared.TryGetValue(sql, out var command))
                {
                    for (var p = 0; p < parameters.Length; p++)
                    {
                        command.Parameters[p].Value = parameters[p].Value ?? DBNull.Value;
                    }
                }
                else
                {
                    command = prepared[sql] = SqlCommands.Create(connection, transaction, sql, parameters);
                    await command.PrepareAsync(cancellationToken).ConfigureAwait(false);
                }

                affected[i] = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            foreach (var command in prepared.Values)
            {
                await command.DisposeAsync().ConfigureAwait(false);
            }
        }

        return affected;
    }

    private sealed record Statement(string Sql, (string Name, object? Value)[] Parameters);

    private Statement VersionCheck(GrainWrite write)
    {
        var (key, expected, change) = write;
        var census = change.Census is null ? null : JsonSerializer.Serialize(change.Census, Json);
        return expected == 0
            ? new Statement($"""
                INSERT INTO bed_grains (hospital_id, profile_code, version, census, next_code_sequence, next_event_sequence)
                VALUES (@h, @p, @v, {_dialect.Json("@census")}, @nc, @ne) ON CONFLICT DO NOTHING
                """,
                [("@h", key.HospitalId), ("@p", key.ProfileCode), ("@v", change.Version), ("@census", census), ("@nc", change.NextCodeSequence), ("@ne", change.NextEventSequence)])
            : new Statement($"""
                UPDATE bed_grains SET version = @v, census = COALESCE({_dialect.Json("@census")}, census),
                    next_code_sequence = @nc, next_event_sequence = @ne
                WHERE hospital_id = @h AND profile_code = @p AND version = @expected
                """,
                [("@h", key.HospitalId), ("@p", key.ProfileCode), ("@v", change.Version), ("@census", census), ("@nc", change.NextCodeSequence), ("@ne", change.NextEventSequence), ("@expected", expected)]);
    }

    private IEnumerable<Statement> Delta(GrainWrite write)
    {
        var (key, _, change) = write;

        foreach (var day in change.Calendar)
        {
            yield return new Statement("""
                INSERT INTO admission_days (hospital_id, profile_code, date, slots) VALUES (@h, @p, @d, @s)
                ON CONFLICT (hospital_id, profile_code, date) DO UPDATE SET slots = excluded.slots
                """,
                [("@h", key.HospitalId), ("@p", key.ProfileCode), ("@d", day.Date), ("@s", day.Slots)]);
        }

        foreach (var referral in change.Referrals)
        {
            yield return new Statement($"""
                INSERT INTO referrals (code, hospital_id, profile_code, status, planned_date, patient_key, referring_organization_id, updated_at, body)
                VALUES (@c, @h, @p, @st, @d, @pk, @org, @u, {_dialect.Json("@body")})
                ON CONFLICT (code) DO UPDATE SET status = excluded.status, planned_date = excluded.planned_date, updated_at = excluded.updated_at, body = excluded.body
                """,
                [("@c", referral.HospitalizationCode), ("@h", key.HospitalId), ("@p", key.ProfileCode), ("@st", (int)referral.Status), ("@d", referral.PlannedDate),
                 ("@pk", referral.PatientKey), ("@org", referral.ReferringOrganizationId), ("@u", referral.UpdatedAt.ToUniversalTime()), ("@body", JsonSerializer.Serialize(referral, Json))]);
        }

        foreach (var e in change.Events)
        {
            yield return new Statement("""
                INSERT INTO referral_events (hospital_id, profile_code, sequence, code, action, status, reason, actor_organization_id, occurred_at, planned_date)
                VALUES (@h, @p, @seq, @c, @a, @st, @r, @actor, @at, @d)
                """,
                [("@h", key.HospitalId), ("@p", key.ProfileCode), ("@seq", e.Sequence), ("@c", e.HospitalizationCode), ("@a", e.Action), ("@st", (int)e.Status),
                 ("@r", e.Reason), ("@actor", e.ActorOrganizationId), ("@at", e.OccurredAt.ToUniversalTime()), ("@d", e.PlannedDate)]);
        }

        if (change.Idempotency is { } record)
        {
            yield return new Statement("""
                INSERT INTO idempotency_records (hospital_id, profile_code, key, operation, code, protected_access_key, created_at, result)
                VALUES (@h, @p, @k, @o, @c, @ak, @at, @res)
                """,
                [("@h", key.HospitalId), ("@p", key.ProfileCode), ("@k", record.Key), ("@o", record.Operation), ("@c", record.HospitalizationCode),
                 ("@ak", record.ProtectedAccessKey), ("@at", record.CreatedAt.ToUniversalTime()), ("@res", ResultJson(record))]);
        }

        // The audit trail in the change's own transaction: no acknowledged change without its record.
        foreach (var audit in AuditLog.OfGrainChange(key, change))
        {
            var (sql, parameters) = AuditLog.Insert(audit, _dialect);
            yield return new Statement(sql, parameters);
        }
    }

    public async Task<BedGrainSnapshot?> LoadAsync(BedGrainKey key, DateTimeOffset requestsSince, CancellationToken cancellationToken) =>
        await _snapshotLoader.SubmitAsync(new SnapshotLoad(key, requestsSince), cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// The referrals, the registration requests and then the grain's version, in one round trip:
    /// commits change the version with their rows, so the same version as at activation means no
    /// commit came between, and the grain's state is whole.
    /// </summary>
    public async Task<BedGrainReferrals> LoadReferralsAsync(BedGrainKey key, long version, CancellationToken cancellationToken) =>
        await _referralsLoader.SubmitAsync(new ReferralsLoad(key, version), cancellationToken).ConfigureAwait(false)
        ?? throw new StorageConflictException($"{key}: the stored version is no longer {version}");

    public async Task<BedGrainReferrals> LoadReferralChangesAsync(BedGrainKey key, long version, long eventSequence, CancellationToken cancellationToken) =>
        await _referralsLoader.SubmitAsync(new ReferralsLoad(key, version, eventSequence), cancellationToken).ConfigureAwait(false)
        ?? throw new StorageConflictException($"{key}: the stored version is no longer {version}");

    public async Task<BedGrainReferrals> LoadDueReferralsAsync(BedGrainKey key, long version, DateOnly plannedBy, CancellationToken cancellationToken) =>
        await _referralsLoader.SubmitAsync(new ReferralsLoad(key, version, DueBy: plannedBy), cancellationToken).ConfigureAwait(false)
        ?? throw new StorageConflictException($"{key}: the stored version is no longer {version}");

    private sealed record SnapshotLoad(BedGrainKey Key, DateTimeOffset RequestsSince);

    /// <param name="ChangedAfter">Only the referrals changed after this event (the registrations all); null, and no <paramref name="DueBy"/>: every referral.</param>
    /// <param name="DueBy">Only the active referrals planned on or before this date, without registrations.</param>
    private sealed record ReferralsLoad(BedGrainKey Key, long Version, long? ChangedAfter = null, DateOnly? DueBy = null);

    /// <summary>
    /// The grains' rows, calendars, active referrals per date and remembered requests, in one
    /// round trip for the whole batch: after a restart every grain activates at once (the
    /// reporting hour), and one query per grain cost more in planning and round trips than in rows.
    /// The oldest remembered request of the batch is the bound for all (they differ by milliseconds).
    /// </summary>
    private async Task<BedGrainSnapshot?[]> LoadSnapshotsAsync(IReadOnlyList<SnapshotLoad> loads, CancellationToken cancellationToken)
    {
        var keys = loads.Select(l => l.Key).Distinct().ToDictionary(k => k);
        var since = loads.Min(l => l.RequestsSince).ToUniversalTime();
        var grains = new Dictionary<BedGrainKey, (long Version, BedCensus? Census, long NextCode, long NextEvent)>();
        var calendars = new Dictionary<BedGrainKey, List<CalendarSlots>>();
        var active = new Dictionary<BedGrainKey, Dictionary<DateOnly, int>>();
        var requests = new Dictionary<BedGrainKey, List<IdempotencyRecord>>();

        await using var connection = await _open(cancellationToken).ConfigureAwait(false);
        await using var query = KeysCommand(connection, _snapshotsQuery, keys.Keys, ("@since", since));
        await using var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var census = reader.IsDBNull(3) ? null : JsonSerializer.Deserialize<BedCensus>(reader.GetString(3), Json);
            grains[ReadKey(reader, keys)] = (reader.GetInt64(2), census, reader.GetInt64(4), reader.GetInt64(5));
        }

        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            GetOrAdd(calendars, ReadKey(reader, keys)).Add(new CalendarSlots(reader.GetFieldValue<DateOnly>(2), reader.GetInt32(3)));
        }

        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            GetOrAdd(active, ReadKey(reader, keys))[reader.GetFieldValue<DateOnly>(2)] = reader.GetInt32(3);
        }

        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        await ReadIdempotencyAsync(reader, keys, requests, new Dictionary<string, Referral>(), cancellationToken).ConfigureAwait(false);

        return loads.Select(l => grains.TryGetValue(l.Key, out var g)
            ? new BedGrainSnapshot(g.Version, g.Census, calendars.GetValueOrDefault(l.Key) ?? [], active.GetValueOrDefault(l.Key) ?? [],
                requests.GetValueOrDefault(l.Key) ?? [], g.NextCode, g.NextEvent)
            : null).ToArray();
    }

    /// <summary>The referrals of many grains in one round trip (the morning peak's first registrations); null for a load whose version moved on.</summary>
    private async Task<BedGrainReferrals?[]> LoadReferralsAsync(IReadOnlyList<ReferralsLoad> loads, CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken).ConfigureAwait(false);
        var results = new BedGrainReferrals?[loads.Count];
        var whole = Enumerable.Range(0, loads.Count).Where(i => loads[i] is { ChangedAfter: null, DueBy: null }).ToArray();
        if (whole.Length > 0)
        {
            var loaded = await ReadReferralsAsync(connection, _referralsQuery, [.. whole.Select(i => loads[i])], [("@since", RetainedSince)], cancellationToken).ConfigureAwait(false);
            for (var j = 0; j < whole.Length; j++)
            {
                results[whole[j]] = loaded[j];
            }
        }

        // Due referrals, the grains of one date together (the day's no-shows wake many grains at once).
        foreach (var due in Enumerable.Range(0, loads.Count).Where(i => loads[i].DueBy is not null).GroupBy(i => loads[i].DueBy!.Value))
        {
            var indexes = due.ToArray();
            var loaded = await ReadReferralsAsync(connection, _dueReferralsQuery, [.. indexes.Select(i => loads[i])], [("@due", due.Key)], cancellationToken, registrations: false).ConfigureAwait(false);
            for (var j = 0; j < indexes.Length; j++)
            {
                results[indexes[j]] = loaded[j];
            }
        }

        // Each with its own event cursor: one query each, on the same connection (catching up is rare).
        foreach (var i in Enumerable.Range(0, loads.Count).Where(i => loads[i].ChangedAfter is not null))
        {
            var load = loads[i];
            results[i] = (await ReadReferralsAsync(connection, _referralChangesQuery, [load],
                [("@since", RetainedSince), ("@h", load.Key.HospitalId), ("@p", load.Key.ProfileCode), ("@after", load.ChangedAfter!.Value)], cancellationToken).ConfigureAwait(false))[0];
        }

        return results;
    }

    /// <summary>The referrals, the registrations (if asked), then the versions, of the loads' grains (null for a load whose version moved on).</summary>
    private async Task<BedGrainReferrals?[]> ReadReferralsAsync(DbConnection connection, string sql, IReadOnlyList<ReferralsLoad> loads, (string Name, object? Value)[] parameters, CancellationToken cancellationToken, bool registrations = true)
    {
        var keys = loads.Select(l => l.Key).Distinct().ToDictionary(k => k);
        var referrals = new Dictionary<BedGrainKey, List<Referral>>();
        var byCode = new Dictionary<string, Referral>(StringComparer.Ordinal);
        var registered = new Dictionary<BedGrainKey, List<IdempotencyRecord>>();
        var versions = new Dictionary<BedGrainKey, long>();

        await using var query = KeysCommand(connection, sql, keys.Keys, parameters);
        await using var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var key = ReadKey(reader, keys);
            var referral = _shared.Share(key, JsonSerializer.Deserialize<Referral>(reader.GetString(2), Json)!);
            GetOrAdd(referrals, key).Add(referral);
            byCode[referral.HospitalizationCode] = referral;
        }

        if (registrations)
        {
            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
            await ReadIdempotencyAsync(reader, keys, registered, byCode, cancellationToken).ConfigureAwait(false);
        }

        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            versions[ReadKey(reader, keys)] = reader.GetInt64(2);
        }

        return loads.Select(l => versions.TryGetValue(l.Key, out var version) && version == l.Version
            ? new BedGrainReferrals(referrals.GetValueOrDefault(l.Key) ?? [], registered.GetValueOrDefault(l.Key) ?? [])
            : null).ToArray();
    }

    private static TValue GetOrAdd<TValue>(Dictionary<BedGrainKey, TValue> byKey, BedGrainKey key)
        where TValue : new()
    {
        if (!byKey.TryGetValue(key, out var value))
        {
            byKey[key] = value = new TValue();
        }

        return value;
    }

    /// <summary>The row's grain as the loader's own key instance (a grain's texts then share its key's strings).</summary>
    private static BedGrainKey ReadKey(DbDataReader reader, Dictionary<BedGrainKey, BedGrainKey> keys) => keys[new BedGrainKey(reader.GetString(0), reader.GetString(1))];

    /// <summary>Terminal referrals and remembered requests older than this stay in the database.</summary>
    private DateTimeOffset RetainedSince => (_time.GetUtcNow() - _options.RetainTerminalReferrals).ToUniversalTime();

    private DbCommand KeysCommand(DbConnection connection, string sql, IReadOnlyCollection<BedGrainKey> keys, params (string Name, object? Value)[] parameters) =>
        SqlCommands.Create(connection, null, sql, [.. _dialect.KeyParameters(keys), .. parameters]);

    /// <summary>
    /// The grains' remembered requests: their registrations, or all the others (migration 6 indexes
    /// those apart). A registration keeps no result (its referral's first event tells), so its
    /// read stays within migration 8's index.
    /// </summary>
    private static string IdempotencyQuery(SqlDialect dialect, bool registrations) => $"""
        SELECT i.hospital_id, i.profile_code, i.key, i.operation, i.code, i.protected_access_key, i.created_at, {(registrations ? "NULL" : "i.result")}
        FROM {dialect.Keys} CROSS JOIN idempotency_records i
        WHERE i.hospital_id = k.h AND i.profile_code = k.p
          AND i.operation {(registrations ? "IN" : "NOT IN")} ('{IdempotencyRecord.Registration}', '{IdempotencyRecord.FencedRegistration}') AND i.created_at >= @since
        """;

    private static string SnapshotsQuery(SqlDialect dialect) => $"""
        SELECT g.hospital_id, g.profile_code, g.version, g.census, g.next_code_sequence, g.next_event_sequence FROM {dialect.Keys} CROSS JOIN bed_grains g
        WHERE g.hospital_id = k.h AND g.profile_code = k.p;
        SELECT a.hospital_id, a.profile_code, a.date, a.slots FROM {dialect.Keys} CROSS JOIN admission_days a
        WHERE a.hospital_id = k.h AND a.profile_code = k.p;
        SELECT r.hospital_id, r.profile_code, r.planned_date, COUNT(*) FROM {dialect.Keys} CROSS JOIN referrals r
        WHERE r.hospital_id = k.h AND r.profile_code = k.p AND r.status IN (1, 2) GROUP BY r.hospital_id, r.profile_code, r.planned_date;
        {IdempotencyQuery(dialect, registrations: false)}
        """;

    private static string ReferralsQuery(SqlDialect dialect) => $"""
        SELECT r.hospital_id, r.profile_code, r.body FROM {dialect.Keys} CROSS JOIN referrals r
        WHERE r.hospital_id = k.h AND r.profile_code = k.p AND (r.status IN (1, 2) OR r.updated_at >= @since);
        {RegistrationsAndVersions(dialect)}
        """;

    /// <summary>One grain's referrals changed after an event (the events' unique index (grain, sequence) finds the codes, then each referral is one row by its key), its registrations and version.</summary>
    private static string ReferralChangesQuery(SqlDialect dialect) => $"""
        SELECT r.hospital_id, r.profile_code, r.body FROM referrals r
        WHERE r.code IN (SELECT e.code FROM referral_events e WHERE e.hospital_id = @h AND e.profile_code = @p AND e.sequence > @after);
        {RegistrationsAndVersions(dialect)}
        """;

    /// <summary>The grains' active referrals planned by a date (the partial index referrals_active), then their versions.</summary>
    private static string DueReferralsQuery(SqlDialect dialect) => $"""
        SELECT r.hospital_id, r.profile_code, r.body FROM {dialect.Keys} CROSS JOIN referrals r
        WHERE r.hospital_id = k.h AND r.profile_code = k.p AND r.status IN (1, 2) AND r.planned_date <= @due;
        {Versions(dialect)}
        """;

    private static string RegistrationsAndVersions(SqlDialect dialect) => $"""
        {IdempotencyQuery(dialect, registrations: true)};
        {Versions(dialect)}
        """;

    private static string Versions(SqlDialect dialect) => $"""
        SELECT g.hospital_id, g.profile_code, g.version FROM {dialect.Keys} CROSS JOIN bed_grains g WHERE g.hospital_id = k.h AND g.profile_code = k.p
        """;

    private async Task ReadIdempotencyAsync(DbDataReader reader, Dictionary<BedGrainKey, BedGrainKey> keys, Dictionary<BedGrainKey, List<IdempotencyRecord>> byKey, IReadOnlyDictionary<string, Referral> byCode, CancellationToken cancellationToken)
    {
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            GetOrAdd(byKey, ReadKey(reader, keys)).Add(_shared.Share(new IdempotencyRecord(reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetFieldValue<DateTimeOffset>(6),
                reader.IsDBNull(7) ? null : JsonSerializer.Deserialize<IdempotencyResult>(reader.GetString(7), Json)), byCode));
        }
    }

    /// <summary>A request's first result as stored (JSON), null when it keeps none.</summary>
    internal static string? ResultJson(IdempotencyRecord record) => record.Result is null ? null : JsonSerializer.Serialize(record.Result, Json);

    public async IAsyncEnumerable<BedGrainSummary> ReadSummariesAsync(DateOnly fromDate, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken).ConfigureAwait(false);
        var grains = new Dictionary<BedGrainKey, (BedCensus? Census, SortedDictionary<DateOnly, (int Slots, int Reserved)> Days, List<PatientHold> Holds, DateOnly? Earliest)>();
        await using (var query = Command(connection, "SELECT hospital_id, profile_code, census FROM bed_grains"))
        await using (var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var census = reader.IsDBNull(2) ? null : JsonSerializer.Deserialize<BedCensus>(reader.GetString(2), Json);
                grains[new BedGrainKey(reader.GetString(0), reader.GetString(1))] = (census, [], [], null);
            }
        }

        await using (var query = Command(connection, "SELECT hospital_id, profile_code, date, slots FROM admission_days WHERE date >= @from", ("@from", fromDate)))
        await using (var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (grains.TryGetValue(new BedGrainKey(reader.GetString(0), reader.GetString(1)), out var grain))
                {
                    grain.Days[reader.GetFieldValue<DateOnly>(2)] = (reader.GetInt32(3), 0);
                }
            }
        }

        await using (var query = Command(connection, "SELECT hospital_id, profile_code, planned_date, code, patient_key, referring_organization_id FROM referrals WHERE status IN (1, 2)"))
        await using (var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var key = new BedGrainKey(reader.GetString(0), reader.GetString(1));
                if (!grains.TryGetValue(key, out var grain))
                {
                    continue;
                }

                var date = reader.GetFieldValue<DateOnly>(2);
                grain.Holds.Add(new PatientHold(reader.GetString(4), key.ProfileCode, reader.GetString(3), reader.GetString(5)));
                if (date >= fromDate)
                {
                    var day = grain.Days.GetValueOrDefault(date);
                    grain.Days[date] = (day.Slots, day.Reserved + 1);
                }

                if (grain.Earliest is null || date < grain.Earliest)
                {
                    grains[key] = grain with { Earliest = date };
                }
            }
        }

        foreach (var (key, grain) in grains)
        {
            var days = grain.Days.Select(d => new AdmissionDay(d.Key, d.Value.Slots, d.Value.Reserved)).ToArray();
            yield return new BedGrainSummary(key, grain.Census, days, grain.Holds.Count, grain.Holds, grain.Earliest);
        }
    }

    private static DbCommand Command(DbConnection connection, string sql, params (string Name, object? Value)[] parameters) =>
        SqlCommands.Create(connection, null, sql, parameters);

    public async ValueTask DisposeAsync()
    {
        await _committer.DisposeAsync().ConfigureAwait(false);
        await _snapshotLoader.DisposeAsync().ConfigureAwait(false);
        await _referralsLoader.DisposeAsync().ConfigureAwait(false);
        await _writerConnections.DisposeAsync().ConfigureAwait(false);
    }
}
