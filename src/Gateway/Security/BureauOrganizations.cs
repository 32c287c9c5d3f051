namespace BedBureau.Gateway.Security;

/// <summary>The organisations of the storage the bureau opened at start-up (services are built before it opens).</summary>
internal sealed class BureauOrganizations(BureauHost host) : IOrganizationStore
{
    public Task<Organization?> FindOrganizationAsync(string organizationId, CancellationToken cancellationToken) => host.Storage.Organizations.FindOrganizationAsync(organizationId, cancellationToken);

    public Task<ApiKeyRecord?> FindKeyAsync(string keyId, CancellationToken cancellationToken) => host.Storage.Organizations.FindKeyAsync(keyId, cancellationToken);

    public Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken) => host.Storage.Organizations.ListOrganizationsAsync(cancellationToken);

    public Task SaveOrganizationAsync(Organization organization, CancellationToken cancellationToken) => host.Storage.Organizations.SaveOrganizationAsync(organization, cancellationToken);

    public Task SaveKeyAsync(ApiKeyRecord key, CancellationToken cancellationToken) => host.Storage.Organizations.SaveKeyAsync(key, cancellationToken);

    public Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string? organizationId, CancellationToken cancellationToken) => host.Storage.Organizations.ListKeysAsync(organizationId, cancellationToken);

    public Task RevokeKeyAsync(string keyId, DateTimeOffset revokedAt, CancellationToken cancellationToken) => host.Storage.Organizations.RevokeKeyAsync(keyId, revokedAt, cancellationToken);
}
