using System.Text.Json;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using Npgsql;

namespace BedBureau.Gateway.Storage;

/// <summary>
/// A group-commit batch on PostgreSQL as a handful of set-based statements over arrays
/// (<c>unnest</c>): the version checks of all grains in two statements whose RETURNING says
/// which passed, then one statement per table for the deltas of those, in one round trip.
/// Same rows, same checks as the row-by-row path.
/// </summary>
internal static class PostgresBatch
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General);

    /// <param name="notifyAs">This node's id, to tell the other nodes which grains committed (<see cref="GrainChangeNotices"/>); null: nobody is told.</param>
    public static async Task<bool[]> CommitAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, (BedGrainKey Key, long Expected, BedGrainChange Change)[] writes, string? notifyAs, CancellationToken cancellationToken)
    {
        var passed = new HashSet<BedGrainKey>();
        await using (var checks = new NpgsqlBatch(connection, transaction))
        {
            var inserts = writes.Where(w => w.Expected == 0).ToArray();
            var updates = writes.Where(w => w.Expected != 0).ToArray();
            if (inserts.Length > 0)
            {
                checks.BatchCommands.Add(Command("""
                    INSERT INTO bed_grains (hospital_id, profile_code, version, census, next_code_sequence, next_event_sequence)
                    SELECT h, p, v, CAST(c AS jsonb), nc, ne FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[]) AS u(h, p, v, c, nc, ne)
                    ON CONFLICT DO NOTHING RETURNING hospital_id, profile_code
                    """,
                    inserts.Select(w => w.Key.HospitalId).ToArray(), inserts.Select(w => w.Key.ProfileCode).ToArray(), inserts.Select(w => w.Change.Version).ToArray(),
                    inserts.Select(w => Census(w.Change)).ToArray(), inserts.Select(w => w.Change.NextCodeSequence).ToArray(), inserts.Select(w => w.Change.NextEventSequence).ToArray()));
            }

            if (updates.Length > 0)
            {
                checks.BatchCommands.Add(Command("""
                    UPDATE bed_grains g SET version = u.v, census = COALESCE(CAST(u.c AS jsonb), g.census), next_code_sequence = u.nc, next_event_sequence = u.ne
                    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[]) AS u(h, p, v, c, nc, ne, expected)
                    WHERE g.hospital_id = u.h AND g.profile_code = u.p AND g.version = u.expected
                    RETURNING g.hospital_id, g.profile_code
                    """,
                    updates.Select(w => w.Key.HospitalId).ToArray(), updates.Select(w => w.Key.ProfileCode).ToArray(), updates.Select(w => w.Change.Version).ToArray(),
                    updates.Select(w => Census(w.Change)).ToArray(), updates.Select(w => w.Change.NextCodeSequence).ToArray(), updates.Select(w => w.Change.NextEventSequence).ToArray(),
                    updates.Select(w => w.Expected).ToArray()));
            }

            await using var reader = await checks.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            do
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    passed.Add(new BedGrainKey(reader.GetString(0), reader.GetString(1)));
                }
            }
            while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false));
        }

        var committed = writes.Select(w => passed.Contains(w.Key)).ToArray();
        var applied = writes.Where((_, i) => committed[i]).ToArray();
        if (applied.Length == 0)
        {
            return committed;
        }

        await using var deltas = new NpgsqlBatch(connection, transaction);

        // Within one statement a row may be written once: the last value of a date or referral wins, as row by row.
        var days = applied.SelectMany(w => w.Change.Calendar.Select(d => (w.Key, d.Date, d.Slots)))
            .GroupBy(d => (d.Key, d.Date)).Select(g => g.Last()).ToArray();
        if (days.Length > 0)
        {
            deltas.BatchCommands.Add(Command("""
                INSERT INTO admission_days (hospital_id, profile_code, date, slots)
                SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::integer[])
                ON CONFLICT (hospital_id, profile_code, date) DO UPDATE SET slots = excluded.slots
                """,
                days.Select(d => d.Key.HospitalId).ToArray(), days.Select(d => d.Key.ProfileCode).ToArray(), days.Select(d => d.Date).ToArray(), days.Select(d => d.Slots).ToArray()));
        }

        var referrals = applied.SelectMany(w => w.Change.Referrals.Select(r => (w.Key, Referral: r)))
            .GroupBy(r => r.Referral.HospitalizationCode).Select(g => g.Last()).ToArray();
        if (referrals.Length > 0)
        {
            deltas.BatchCommands.Add(Command("""
                INSERT INTO referrals (code, hospital_id, profile_code, status, planned_date, patient_key, referring_organization_id, updated_at, body)
                SELECT c, h, p, st, d, pk, org, u, CAST(b AS jsonb)
                FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::date[], $6::text[], $7::text[], $8::timestamptz[], $9::text[]) AS x(c, h, p, st, d, pk, org, u, b)
                ON CONFLICT (code) DO UPDATE SET status = excluded.status, planned_date = excluded.planned_date, updated_at = excluded.updated_at, body = excluded.body
                """,
                referrals.Select(r => r.Referral.HospitalizationCode).ToArray(), referrals.Select(r => r.Key.HospitalId).ToArray(), referrals.Select(r => r.Key.ProfileCode).ToArray(),
                referrals.Select(r => (short)r.Referral.Status).ToArray(), referrals.Select(r => r.Referral.PlannedDate).ToArray(), referrals.Select(r => r.Referral.PatientKey).ToArray(),
                referrals.Select(r => r.Referral.ReferringOrganizationId).ToArray(), referrals.Select(r => r.Referral.UpdatedAt.ToUniversalTime()).ToArray(),
                referrals.Select(r => JsonSerializer.Serialize(r.Referral, Json)).ToArray()));
        }

        var events = applied.SelectMany(w => w.Change.Events.Select(e => (w.Key, Event: e))).ToArray();
        if (events.Length > 0)
        {
            deltas.BatchCommands.Add(Command("""
                INSERT INTO referral_events (hospital_id, profile_code, sequence, code, action, status, reason, actor_organization_id, occurred_at, planned_date)
                SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::smallint[], $7::text[], $8::text[], $9::timestamptz[], $10::date[])
                """,
                events.Select(e => e.Key.HospitalId).ToArray(), events.Select(e => e.Key.ProfileCode).ToArray(), events.Select(e => e.Event.Sequence).ToArray(),
                events.Select(e => e.Event.HospitalizationCode).ToArray(), events.Select(e => e.Event.Action).ToArray(), events.Select(e => (short)e.Event.Status).ToArray(),
                events.Select(e => e.Event.Reason).ToArray(), events.Select(e => e.Event.ActorOrganizationId).ToArray(), events.Select(e => e.Event.OccurredAt.ToUniversalTime()).ToArray(),
                events.Select(e => e.Event.PlannedDate).ToArray()));
        }

        var records = applied.Where(w => w.Change.Idempotency is not null).Select(w => (w.Key, Record: w.Change.Idempotency!)).ToArray();
        if (records.Length > 0)
        {
            deltas.BatchCommands.Add(Command("""
                INSERT INTO idempotency_records (hospital_id, profile_code, key, operation, code, protected_access_key, created_at, result)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[])
                """,
                records.Select(r => r.Key.HospitalId).ToArray(), records.Select(r => r.Key.ProfileCode).ToArray(), records.Select(r => r.Record.Key).ToArray(),
                records.Select(r => r.Record.Operation).ToArray(), records.Select(r => r.Record.HospitalizationCode).ToArray(), records.Select(r => r.Record.ProtectedAccessKey).ToArray(),
                records.Select(r => r.Record.CreatedAt.ToUniversalTime()).ToArray(), records.Select(r => SqlBedGrainStorage.ResultJson(r.Record)).ToArray()));
        }

        // The audit trail in the change's own transaction: no acknowledged change without its record.
        var audits = applied.SelectMany(w => AuditLog.OfGrainChange(w.Key, w.Change)).ToArray();
        if (audits.Length > 0)
        {
            deltas.BatchCommands.Add(Command("""
                INSERT INTO audit_records (actor_organization_id, action, target, occurred_at, request_id, outcome, reason)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[])
                """,
                audits.Select(a => a.ActorOrganizationId).ToArray(), audits.Select(a => a.Action).ToArray(), audits.Select(a => a.Target).ToArray(),
                audits.Select(a => a.OccurredAt.ToUniversalTime()).ToArray(), audits.Select(a => a.RequestId).ToArray(), audits.Select(a => a.Outcome).ToArray(),
                audits.Select(a => a.Reason).ToArray()));
        }

        if (notifyAs is not null && GrainChangeNotices.Command(notifyAs, applied.Select(w => (w.Key, w.Change))) is { } notify)
        {
            deltas.BatchCommands.Add(notify);
        }

        if (deltas.BatchCommands.Count > 0)
        {
            await deltas.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return committed;
    }

    private static string? Census(BedGrainChange change) => change.Census is null ? null : JsonSerializer.Serialize(change.Census, Json);

    private static NpgsqlBatchCommand Command(string sql, params object[] arrays)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var array in arrays)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = array });
        }

        return command;
    }
}
