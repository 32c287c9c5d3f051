namespace BedBureau.Gateway.Security;

public enum OrganizationKind
{
    Hospital = 1,
    Polyclinic = 2,

    /// <summary>The ministry: reads the audit trail and administers organisations.</summary>
    Admin = 3,
}

/// <summary>An organisation that calls the API with its keys. A hospital's id is its bureau hospital code.</summary>
public sealed record Organization(string Id, OrganizationKind Kind, string Name, string Bin, string RegionCode);

/// <summary>A stored API key: only its salted hash, never the key.</summary>
public sealed record ApiKeyRecord(string KeyId, string OrganizationId, byte[] Salt, byte[] Hash, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

/// <summary>The authenticated organisation behind a call.</summary>
public sealed record Caller(string OrganizationId, OrganizationKind Kind);

/// <summary>Where organisations and their keys are kept (the storage adapters implement it).</summary>
public interface IOrganizationStore
{
    Task<Organization?> FindOrganizationAsync(string organizationId, CancellationToken cancellationToken);

    Task<ApiKeyRecord?> FindKeyAsync(string keyId, CancellationToken cancellationToken);

    Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken);

    Task SaveOrganizationAsync(Organization organization, CancellationToken cancellationToken);

    Task SaveKeyAsync(ApiKeyRecord key, CancellationToken cancellationToken);

    Task RevokeKeyAsync(string keyId, DateTimeOffset revokedAt, CancellationToken cancellationToken);

    /// <summary>Every key's record (hashes included), of one organisation or of all, oldest first.</summary>
    Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string? organizationId, CancellationToken cancellationToken);
}
