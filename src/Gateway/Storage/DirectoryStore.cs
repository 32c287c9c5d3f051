using System.Data.Common;

namespace BedBureau.Gateway.Storage;

/// <summary>A hospital as the directory keeps it.</summary>
public sealed record HospitalRecord(string Id, string Bin, string Name, string RegionCode, string Locality, IReadOnlyList<string> ProfileCodes);

/// <summary>Hospitals and their profiles, and the polyclinics' referral listings: plain SQL on either database.</summary>
public sealed class DirectoryStore(Func<CancellationToken, ValueTask<DbConnection>> open)
{
    public async Task<IReadOnlyList<HospitalRecord>> ListHospitalsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await open(cancellationToken).ConfigureAwait(false);
        var profiles = new Dictionary<string, List<string>>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT hospital_id, profile_code FROM hospital_profiles ORDER BY hospital_id, profile_code";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var id = reader.GetString(0);
                if (!profiles.TryGetValue(id, out var list))
                {
                    profiles[id] = list = [];
                }

                list.Add(reader.GetString(1));
            }
        }

        var hospitals = new List<HospitalRecord>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT id, bin, name, region_code, locality FROM hospitals ORDER BY id";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var id = reader.GetString(0);
                hospitals.Add(new HospitalRecord(id, reader.GetString(1).Trim(), reader.GetString(2), reader.GetString(3), reader.GetString(4), profiles.GetValueOrDefault(id) ?? []));
            }
        }

        return hospitals;
    }

    /// <summary>Adds hospitals (and their profiles) in one transaction; existing ones are updated.</summary>
    public async Task SaveHospitalsAsync(IEnumerable<HospitalRecord> hospitals, CancellationToken cancellationToken)
    {
        await using var connection = await open(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var hospital in hospitals)
        {
            await ExecuteAsync(connection, transaction, """
                INSERT INTO hospitals (id, bin, name, region_code, locality) VALUES (@id, @bin, @name, @region, @locality)
                ON CONFLICT (id) DO UPDATE SET bin = excluded.bin, name = excluded.name, region_code = excluded.region_code, locality = excluded.locality
                """, cancellationToken, ("@id", hospital.Id), ("@bin", hospital.Bin), ("@name", hospital.Name), ("@region", hospital.RegionCode), ("@locality", hospital.Locality)).ConfigureAwait(false);
            foreach (var profile in hospital.ProfileCodes)
            {
                await ExecuteAsync(connection, transaction, "INSERT INTO hospital_profiles (hospital_id, profile_code) VALUES (@id, @profile) ON CONFLICT DO NOTHING",
                    cancellationToken, ("@id", hospital.Id), ("@profile", profile)).ConfigureAwait(false);
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A polyclinic's referrals, newest change first, as JSON bodies; paged by offset.</summary>
    public async Task<IReadOnlyList<string>> ListReferralBodiesAsync(string polyclinicId, IReadOnlyCollection<int> statuses, int offset, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await open(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var filter = statuses.Count == 0 ? "" : $" AND status IN ({string.Join(",", statuses)})";
        command.CommandText = $"SELECT body FROM referrals WHERE referring_organization_id = @org{filter} ORDER BY updated_at DESC, code LIMIT @limit OFFSET @offset";
        SqlCommands.Add(command, "@org", polyclinicId);
        SqlCommands.Add(command, "@limit", limit);
        SqlCommands.Add(command, "@offset", offset);
        var bodies = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            bodies.Add(reader.GetString(0));
        }

        return bodies;
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = SqlCommands.Create(connection, transaction, sql, parameters);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
