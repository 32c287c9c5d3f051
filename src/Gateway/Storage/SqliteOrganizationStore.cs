using BedBureau.Gateway.Security;
using Microsoft.Data.Sqlite;

namespace BedBureau.Gateway.Storage;

internal sealed class SqliteOrganizationStore(SqliteDatabase database) : IOrganizationStore
{
    public async Task<Organization?> FindOrganizationAsync(string organizationId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new SqliteCommand("SELECT id, kind, name, bin, region_code FROM organizations WHERE id = $id", connection);
        command.Parameters.AddWithValue("$id", organizationId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadOrganization(reader) : null;
    }

    public async Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new SqliteCommand("SELECT id, kind, name, bin, region_code FROM organizations ORDER BY id", connection);
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
        await using var command = new SqliteCommand("SELECT key_id, organization_id, salt, hash, created_at, revoked_at FROM api_keys WHERE key_id = $id", connection);
        command.Parameters.AddWithValue("$id", keyId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        return new ApiKeyRecord(reader.GetString(0), reader.GetString(1), (byte[])reader[2], (byte[])reader[3],
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
            reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)));
    }

    public async Task SaveOrganizationAsync(Organization organization, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new SqliteCommand(
            """
            INSERT INTO organizations (id, kind, name, bin, region_code) VALUES ($id, $kind, $name, $bin, $region)
            ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, bin = excluded.bin, region_code = excluded.region_code
            """, connection);
        command.Parameters.AddWithValue("$id", organization.Id);
        command.Parameters.AddWithValue("$kind", (int)organization.Kind);
        command.Parameters.AddWithValue("$name", organization.Name);
        command.Parameters.AddWithValue("$bin", organization.Bin);
        command.Parameters.AddWithValue("$region", organization.RegionCode);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task SaveKeyAsync(ApiKeyRecord key, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new SqliteCommand(
            "INSERT INTO api_keys (key_id, organization_id, salt, hash, created_at, revoked_at) VALUES ($id, $org, $salt, $hash, $created, $revoked)", connection);
        command.Parameters.AddWithValue("$id", key.KeyId);
        command.Parameters.AddWithValue("$org", key.OrganizationId);
        command.Parameters.AddWithValue("$salt", key.Salt);
        command.Parameters.AddWithValue("$hash", key.Hash);
        command.Parameters.AddWithValue("$created", key.CreatedAt.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$revoked", (object?)key.RevokedAt?.ToUnixTimeMilliseconds() ?? DBNull.Value);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task RevokeKeyAsync(string keyId, DateTimeOffset revokedAt, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new SqliteCommand("UPDATE api_keys SET revoked_at = $at WHERE key_id = $id AND revoked_at IS NULL", connection);
        command.Parameters.AddWithValue("$id", keyId);
        command.Parameters.AddWithValue("$at", revokedAt.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string? organizationId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new SqliteCommand(
            "SELECT key_id, organization_id, salt, hash, created_at, revoked_at FROM api_keys WHERE $org IS NULL OR organization_id = $org ORDER BY created_at, key_id", connection);
        command.Parameters.AddWithValue("$org", (object?)organizationId ?? DBNull.Value);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var keys = new List<ApiKeyRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            keys.Add(new ApiKeyRecord(reader.GetString(0), reader.GetString(1), (byte[])reader[2], (byte[])reader[3],
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
                reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5))));
        }

        return keys;
    }

    private static Organization ReadOrganization(SqliteDataReader reader) =>
        new(reader.GetString(0), (OrganizationKind)reader.GetInt32(1), reader.GetString(2), reader.GetString(3), reader.GetString(4));
}
