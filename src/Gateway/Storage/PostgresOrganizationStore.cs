using BedBureau.Gateway.Security;
using Npgsql;

namespace BedBureau.Gateway.Storage;

internal sealed class PostgresOrganizationStore(PostgresDatabase database) : IOrganizationStore
{
    public async Task<Organization?> FindOrganizationAsync(string organizationId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT id, kind, name, bin, region_code FROM organizations WHERE id = $1", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = organizationId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadOrganization(reader) : null;
    }

    public async Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT id, kind, name, bin, region_code FROM organizations ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var organizations = new List<Organization>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            organizations.Add(ReadOrganization(reader));
        }

        return organizations;
    }

    public async Task<ApiKeyRecord?> FindKeyAsync(string keyId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT key_id, organization_id, salt, hash, created_at, revoked_at FROM api_keys WHERE key_id = $1", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = keyId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        return new ApiKeyRecord(reader.GetString(0), reader.GetString(1), (byte[])reader[2], (byte[])reader[3],
            reader.GetFieldValue<DateTimeOffset>(4), reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5));
    }

    public async Task SaveOrganizationAsync(Organization organization, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            """
            INSERT INTO organizations (id, kind, name, bin, region_code) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, bin = excluded.bin, region_code = excluded.region_code
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = organization.Id });
        command.Parameters.Add(new NpgsqlParameter { Value = (short)organization.Kind });
        command.Parameters.Add(new NpgsqlParameter { Value = organization.Name });
        command.Parameters.Add(new NpgsqlParameter { Value = organization.Bin });
        command.Parameters.Add(new NpgsqlParameter { Value = organization.RegionCode });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task SaveKeyAsync(ApiKeyRecord key, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            "INSERT INTO api_keys (key_id, organization_id, salt, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = key.KeyId });
        command.Parameters.Add(new NpgsqlParameter { Value = key.OrganizationId });
        command.Parameters.Add(new NpgsqlParameter { Value = key.Salt });
        command.Parameters.Add(new NpgsqlParameter { Value = key.Hash });
        command.Parameters.Add(new NpgsqlParameter { Value = key.CreatedAt.ToUniversalTime() });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)key.RevokedAt?.ToUniversalTime() ?? DBNull.Value });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task RevokeKeyAsync(string keyId, DateTimeOffset revokedAt, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("UPDATE api_keys SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = keyId });
        command.Parameters.Add(new NpgsqlParameter { Value = revokedAt.ToUniversalTime() });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string? organizationId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            "SELECT key_id, organization_id, salt, hash, created_at, revoked_at FROM api_keys WHERE $1::text IS NULL OR organization_id = $1 ORDER BY created_at, key_id", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)organizationId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var keys = new List<ApiKeyRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            keys.Add(new ApiKeyRecord(reader.GetString(0), reader.GetString(1), (byte[])reader[2], (byte[])reader[3],
                reader.GetFieldValue<DateTimeOffset>(4), reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5)));
        }

        return keys;
    }

    private static Organization ReadOrganization(NpgsqlDataReader reader) =>
        new(reader.GetString(0), (OrganizationKind)reader.GetInt16(1), reader.GetString(2), reader.GetString(3).Trim(), reader.GetString(4));
}
