using System.Data.Common;
using BedBureau.Gateway.Security;

namespace BedBureau.Gateway.Storage;

/// <summary>Organizations and their API keys on PostgreSQL or SQLite.</summary>
internal sealed class SqlOrganizationStore(Func<CancellationToken, ValueTask<DbConnection>> open, SqlDialect dialect) : IOrganizationStore
{
    private const string OrganizationColumns = "id, kind, name, bin, region_code";
    private const string KeyColumns = "key_id, organization_id, salt, hash, created_at, revoked_at";

    public async Task<Organization?> FindOrganizationAsync(string organizationId, CancellationToken cancellationToken)
    {
        var found = await QueryAsync($"SELECT {OrganizationColumns} FROM organizations WHERE id = @id", ReadOrganization, cancellationToken, ("@id", organizationId)).ConfigureAwait(false);
        return found.SingleOrDefault();
    }

    public Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken) =>
        QueryAsync($"SELECT {OrganizationColumns} FROM organizations ORDER BY id", ReadOrganization, cancellationToken);

    public async Task<ApiKeyRecord?> FindKeyAsync(string keyId, CancellationToken cancellationToken)
    {
        var found = await QueryAsync($"SELECT {KeyColumns} FROM api_keys WHERE key_id = @id", ReadKey, cancellationToken, ("@id", keyId)).ConfigureAwait(false);
        return found.SingleOrDefault();
    }

    public Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string? organizationId, CancellationToken cancellationToken) =>
        QueryAsync($"SELECT {KeyColumns} FROM api_keys WHERE organization_id = COALESCE(@org, organization_id) ORDER BY created_at, key_id", ReadKey, cancellationToken, ("@org", organizationId));

    public Task SaveOrganizationAsync(Organization organization, CancellationToken cancellationToken) =>
        ExecuteAsync("""
            INSERT INTO organizations (id, kind, name, bin, region_code) VALUES (@id, @kind, @name, @bin, @region)
            ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, bin = excluded.bin, region_code = excluded.region_code
            """,
            cancellationToken, ("@id", organization.Id), ("@kind", (short)organization.Kind), ("@name", organization.Name), ("@bin", organization.Bin), ("@region", organization.RegionCode));

    public Task SaveKeyAsync(ApiKeyRecord key, CancellationToken cancellationToken) =>
        ExecuteAsync(
            "INSERT INTO api_keys (key_id, organization_id, salt, hash, created_at, revoked_at) VALUES (@id, @org, @salt, @hash, @created, @revoked)",
            cancellationToken, ("@id", key.KeyId), ("@org", key.OrganizationId), ("@salt", key.Salt), ("@hash", key.Hash),
            ("@created", dialect.Instant(key.CreatedAt)), ("@revoked", key.RevokedAt is { } revoked ? dialect.Instant(revoked) : null));

    public Task RevokeKeyAsync(string keyId, DateTimeOffset revokedAt, CancellationToken cancellationToken) =>
        ExecuteAsync("UPDATE api_keys SET revoked_at = @at WHERE key_id = @id AND revoked_at IS NULL", cancellationToken, ("@id", keyId), ("@at", dialect.Instant(revokedAt)));

    // PostgreSQL keeps the BIN in a char(12) column and the kind in a smallint.
    private Organization ReadOrganization(DbDataReader reader) =>
        new(reader.GetString(0), (OrganizationKind)Convert.ToInt32(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture), reader.GetString(2), reader.GetString(3).Trim(), reader.GetString(4));

    private ApiKeyRecord ReadKey(DbDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), (byte[])reader[2], (byte[])reader[3], dialect.ReadInstant(reader, 4), reader.IsDBNull(5) ? null : dialect.ReadInstant(reader, 5));

    private async Task<IReadOnlyList<T>> QueryAsync<T>(string sql, Func<DbDataReader, T> read, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await open(cancellationToken).ConfigureAwait(false);
        await using var command = SqlCommands.Create(connection, null, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await open(cancellationToken).ConfigureAwait(false);
        await using var command = SqlCommands.Create(connection, null, sql, parameters);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
