using System.Data.Common;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;
using Npgsql;

namespace BedBureau.Gateway.Storage;

/// <summary>
/// The patient grains' storage port on PostgreSQL or SQLite: one row of <c>patient_grains</c>
/// per (patient key, profile), the hold in plain columns (the patient key is the keyed hash of
/// the IIN; nothing personal is stored). Commits are compare-and-set on the row's version and
/// go through group commit like the bed grains': every registration writes its patient's row
/// twice, and one transaction serves the morning peak's many.
/// </summary>
public sealed class SqlPatientGrainStorage : IPatientGrainStorage, IAsyncDisposable
{
    private readonly Func<CancellationToken, ValueTask<DbConnection>> _open;
    private readonly SqlDialect _dialect;
    private readonly TimeProvider _time;
    private readonly Batcher<PatientWrite, bool> _committer;
    private readonly Batcher<PatientGrainKey, PatientGrainSnapshot?> _loader;

    // Loads and commits alike, like the bed grains' writers: a registration's three round trips
    // to this table then land on a few warm backends, not on whichever the pool hands out.
    private readonly WarmConnections _connections;

    public SqlPatientGrainStorage(Func<CancellationToken, ValueTask<DbConnection>> open, SqlDialect dialect, GroupCommitOptions options, TimeProvider time)
    {
        _open = open;
        _dialect = dialect;
        _time = time;
        _connections = new WarmConnections(open, time);
        _committer = new Batcher<PatientWrite, bool>(CommitBatchAsync, options.MaxBatchSize, options.Writers, options.QueueCapacity, "The database did not commit the patient's hold.");
        _loader = new Batcher<PatientGrainKey, PatientGrainSnapshot?>(LoadBatchAsync, options.MaxBatchSize, options.Readers, options.QueueCapacity, "The database did not load the patient's hold.");
    }

    private sealed record PatientWrite(PatientGrainKey Key, long ExpectedVersion, PatientHoldState? Hold);

    public Task<PatientGrainSnapshot?> LoadAsync(PatientGrainKey key, CancellationToken cancellationToken) =>
        _loader.SubmitAsync(key, cancellationToken);

    public async Task CommitAsync(PatientGrainKey key, long expectedVersion, PatientHoldState? hold, CancellationToken cancellationToken)
    {
        // The row keeps the hold's hospital only: its profile is the key's.
        if (hold is not null && hold.Grain.ProfileCode != key.ProfileCode)
        {
            throw new ArgumentException($"patient grain {key}: a hold on profile {hold.Grain.ProfileCode}", nameof(hold));
        }

        if (!await _committer.SubmitAsync(new PatientWrite(key, expectedVersion, hold), cancellationToken).ConfigureAwait(false))
        {
            throw new StorageConflictException($"patient grain {key}: the stored version is not {expectedVersion}");
        }
    }

    /// <summary>
    /// One transaction for the batch. Writes run in key order (two nodes' batches then lock rows
    /// in the same order and never deadlock); a key twice in one batch keeps its callers' order.
    /// A write whose version check fails changes nothing and fails alone with a conflict.
    /// </summary>
    private async Task<bool[]> CommitBatchAsync(IReadOnlyList<PatientWrite> writes, CancellationToken cancellationToken)
    {
        var order = Enumerable.Range(0, writes.Count)
            .OrderBy(i => writes[i].Key.PatientKey, StringComparer.Ordinal).ThenBy(i => writes[i].Key.ProfileCode, StringComparer.Ordinal).ToArray();
        var committed = new bool[writes.Count];
        await WithConnectionAsync(async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await CommitBatchAsync(connection, transaction, writes, order, committed, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        return committed;
    }

    /// <summary>Runs <paramref name="work"/> on a warm connection; after a failure none is kept (see <see cref="WarmConnections.DiscardAsync"/>).</summary>
    private async Task WithConnectionAsync(Func<DbConnection, Task> work, CancellationToken cancellationToken)
    {
        var connection = await _connections.TakeAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await work(connection).ConfigureAwait(false);
        }
        catch
        {
            await _connections.DiscardAsync(connection).ConfigureAwait(false);
            throw;
        }

        await _connections.ReturnAsync(connection).ConfigureAwait(false);
    }

    private async Task CommitBatchAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<PatientWrite> writes, int[] order, bool[] committed, CancellationToken cancellationToken)
    {
        if (connection is NpgsqlConnection npgsql && writes.Select(w => w.Key).Distinct().Count() == writes.Count)
        {
            var passed = await CommitSetAsync(npgsql, (NpgsqlTransaction)transaction, order.Select(i => writes[i]).ToArray(), cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < writes.Count; i++)
            {
                committed[i] = passed.Contains(writes[i].Key);
            }
        }
        else
        {
            await CommitRowsAsync(connection, transaction, writes, order, committed, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>PostgreSQL: the batch's inserts and updates as two statements over arrays, whose RETURNING says which passed.</summary>
    private async Task<HashSet<PatientGrainKey>> CommitSetAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, PatientWrite[] writes, CancellationToken cancellationToken)
    {
        var passed = new HashSet<PatientGrainKey>();
        await using var batch = new NpgsqlBatch(connection, transaction);
        var inserts = writes.Where(w => w.ExpectedVersion == 0).ToArray();
        var updates = writes.Where(w => w.ExpectedVersion != 0).ToArray();
        if (inserts.Length > 0)
        {
            batch.BatchCommands.Add(ArraysCommand("""
                INSERT INTO patient_grains (patient_key, profile_code, version, hospital_id, actor_organization_id, request_id, code, held_at)
                SELECT pk, p, 1, h, a, r, c, t FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[]) AS u(pk, p, e, h, a, r, c, t)
                ORDER BY pk, p
                ON CONFLICT DO NOTHING RETURNING patient_key, profile_code
                """, inserts));
        }

        if (updates.Length > 0)
        {
            batch.BatchCommands.Add(ArraysCommand("""
                UPDATE patient_grains g SET version = u.e + 1, hospital_id = u.h, actor_organization_id = u.a, request_id = u.r, code = u.c, held_at = u.t
                FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[]) AS u(pk, p, e, h, a, r, c, t)
                WHERE g.patient_key = u.pk AND g.profile_code = u.p AND g.version = u.e
                RETURNING g.patient_key, g.profile_code
                """, updates));
        }

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        do
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                passed.Add(new PatientGrainKey(reader.GetString(0), reader.GetString(1)));
            }
        }
        while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false));

        return passed;
    }

    private static NpgsqlBatchCommand ArraysCommand(string sql, PatientWrite[] writes)
    {
        var command = new NpgsqlBatchCommand(sql);
        object[] columns =
        [
            writes.Select(w => w.Key.PatientKey).ToArray(),
            writes.Select(w => w.Key.ProfileCode).ToArray(),
            writes.Select(w => w.ExpectedVersion).ToArray(),
            writes.Select(w => w.Hold?.Grain.HospitalId).ToArray(),
            writes.Select(w => w.Hold?.ActorOrganizationId).ToArray(),
            writes.Select(w => w.Hold?.RequestId).ToArray(),
            writes.Select(w => w.Hold?.HospitalizationCode).ToArray(),
            writes.Select(w => w.Hold?.At.ToUniversalTime()).ToArray(),
        ];
        foreach (var column in columns)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = column });
        }

        return command;
    }

    /// <summary>Row by row in key order (SQLite; PostgreSQL when a key is twice in the batch), each statement prepared once.</summary>
    private async Task CommitRowsAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<PatientWrite> writes, int[] order, bool[] committed, CancellationToken cancellationToken)
    {
        await using var insert = SqlCommands.Create(connection, transaction, """
            INSERT INTO patient_grains (patient_key, profile_code, version, hospital_id, actor_organization_id, request_id, code, held_at)
            VALUES (@pk, @p, @v, @h, @a, @r, @c, @t) ON CONFLICT DO NOTHING
            """, Parameters(null));
        await using var update = SqlCommands.Create(connection, transaction, """
            UPDATE patient_grains SET version = @v, hospital_id = @h, actor_organization_id = @a, request_id = @r, code = @c, held_at = @t
            WHERE patient_key = @pk AND profile_code = @p AND version = @expected
            """, [.. Parameters(null), ("@expected", 0L)]);
        foreach (var i in order)
        {
            var write = writes[i];
            var command = write.ExpectedVersion == 0 ? insert : update;
            var values = Parameters(write);
            for (var p = 0; p < values.Length; p++)
            {
                command.Parameters[p].Value = values[p].Value ?? DBNull.Value;
            }

            if (command == update)
            {
                command.Parameters[values.Length].Value = write.ExpectedVersion;
            }

            committed[i] = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        }
    }

    private (string Name, object? Value)[] Parameters(PatientWrite? write) =>
    [
        ("@pk", write?.Key.PatientKey), ("@p", write?.Key.ProfileCode), ("@v", write is null ? null : write.ExpectedVersion + 1),
        ("@h", write?.Hold?.Grain.HospitalId), ("@a", write?.Hold?.ActorOrganizationId), ("@r", write?.Hold?.RequestId),
        ("@c", write?.Hold?.HospitalizationCode), ("@t", write?.Hold is { } hold ? _dialect.Instant(hold.At) : null),
    ];

    /// <summary>The rows of many patients in one round trip (the morning peak's first registrations).</summary>
    private async Task<PatientGrainSnapshot?[]> LoadBatchAsync(IReadOnlyList<PatientGrainKey> keys, CancellationToken cancellationToken)
    {
        var rows = new Dictionary<PatientGrainKey, PatientGrainSnapshot>();
        await WithConnectionAsync(connection => ReadRowsAsync(connection, keys.Distinct().ToArray(), rows, cancellationToken), cancellationToken).ConfigureAwait(false);
        return keys.Select(k => rows.GetValueOrDefault(k)).ToArray();
    }

    private async Task ReadRowsAsync(DbConnection connection, PatientGrainKey[] distinct, Dictionary<PatientGrainKey, PatientGrainSnapshot> rows, CancellationToken cancellationToken)
    {
        await using var query = _dialect == SqlDialect.Postgres
            ? SqlCommands.Create(connection, null, """
                SELECT g.patient_key, g.profile_code, g.version, g.hospital_id, g.actor_organization_id, g.request_id, g.code, g.held_at
                FROM unnest(CAST(@patients AS text[]), CAST(@profiles AS text[])) AS k(pk, p) CROSS JOIN patient_grains g
                WHERE g.patient_key = k.pk AND g.profile_code = k.p
                """, ("@patients", distinct.Select(k => k.PatientKey).ToArray()), ("@profiles", distinct.Select(k => k.ProfileCode).ToArray()))
            : SqlCommands.Create(connection, null, """
                SELECT g.patient_key, g.profile_code, g.version, g.hospital_id, g.actor_organization_id, g.request_id, g.code, g.held_at
                FROM (SELECT json_extract(value, '$[0]') AS pk, json_extract(value, '$[1]') AS p FROM json_each(@keys)) AS k CROSS JOIN patient_grains g
                WHERE g.patient_key = k.pk AND g.profile_code = k.p
                """, ("@keys", System.Text.Json.JsonSerializer.Serialize(distinct.Select(k => new[] { k.PatientKey, k.ProfileCode }))));
        await using var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var key = new PatientGrainKey(reader.GetString(0), reader.GetString(1));
            var hold = reader.IsDBNull(3) ? null : new PatientHoldState(
                new BedGrainKey(reader.GetString(3), key.ProfileCode), reader.GetString(4), reader.GetString(5),
                reader.IsDBNull(6) ? null : reader.GetString(6), _dialect.ReadInstant(reader, 7));
            rows[key] = new PatientGrainSnapshot(reader.GetInt64(2), hold);
        }
    }

    /// <summary>
    /// Gives every active referral that no patient row names one (start-up, when the rule is
    /// durable): referrals registered while the rule was in-process (before the upgrade that
    /// brought patient grains, or under <c>Bureau:PatientRule=Process</c>) would otherwise not
    /// count against their patient. A row whose hold is itself an active referral is kept; any
    /// other (no hold, an ended referral, a registration interrupted or in flight) takes the
    /// active referral with its version moved on, so that an activation that loaded it before
    /// can no longer commit. Returns the rows written.
    /// </summary>
    public async Task<int> AdoptActiveReferralsAsync(CancellationToken cancellationToken)
    {
        // The registration's request id, when its idempotency record is still there: a retry of
        // that request then gets its first result instead of a refusal.
        // A patient with two active referrals for a profile (possible only where the in-process
        // rule ran on several nodes) is held by one of them; either refuses a third. Referrals
        // already named are left out before anything is sorted: on every later start the query
        // is one anti-join of the active referrals with patient_grains, and writes nothing.
        var sql = $"""
            INSERT INTO patient_grains (patient_key, profile_code, version, hospital_id, actor_organization_id, request_id, code, held_at)
            SELECT r.patient_key, r.profile_code, 1, r.hospital_id, r.referring_organization_id, r.request_id, r.code, @now
            FROM (SELECT a.code, a.hospital_id, a.profile_code, a.patient_key, a.referring_organization_id,
                    COALESCE(substr(i.key, length(a.referring_organization_id) + 2), '') AS request_id,
                    row_number() OVER (PARTITION BY a.patient_key, a.profile_code ORDER BY a.code) AS n
                  FROM referrals a
                  LEFT JOIN idempotency_records i ON i.hospital_id = a.hospital_id AND i.profile_code = a.profile_code AND i.code = a.code
                    AND i.operation = '{IdempotencyRecord.Registration}' AND substr(i.key, 1, length(a.referring_organization_id) + 1) = a.referring_organization_id || '/'
                  WHERE a.status IN (1, 2)
                    AND NOT EXISTS (SELECT 1 FROM patient_grains g WHERE g.patient_key = a.patient_key AND g.profile_code = a.profile_code AND g.code = a.code)) AS r
            WHERE r.n = 1
            ON CONFLICT (patient_key, profile_code) DO UPDATE SET version = patient_grains.version + 1, hospital_id = excluded.hospital_id,
                actor_organization_id = excluded.actor_organization_id, request_id = excluded.request_id, code = excluded.code, held_at = excluded.held_at
            WHERE patient_grains.code IS NULL
               OR NOT EXISTS (SELECT 1 FROM referrals a WHERE a.code = patient_grains.code AND a.status IN (1, 2))
            """;
        try
        {
            await using var connection = await _open(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            if (connection is NpgsqlConnection)
            {
                // PostgreSQL would look each referral's registration up in the index, visiting the
                // grain's every registration (5 s for the national 300,000); joining them all by
                // hash, with room to sort in memory, takes a third of that.
                await using var settings = SqlCommands.Create(connection, transaction, "SET LOCAL enable_nestloop = off; SET LOCAL work_mem = '64MB'");
                await settings.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await using var command = SqlCommands.Create(connection, transaction, sql, ("@now", _dialect.Instant(_time.GetUtcNow())));
            command.CommandTimeout = 0;
            var adopted = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return adopted;
        }
        catch (DbException ex)
        {
            throw new StorageUnavailableException("The database did not adopt the active referrals into patient grains.", ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _committer.DisposeAsync().ConfigureAwait(false);
        await _loader.DisposeAsync().ConfigureAwait(false);
        await _connections.DisposeAsync().ConfigureAwait(false);
    }
}
