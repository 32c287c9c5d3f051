using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using BedBureau.BedGrain.Domain;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Security;
using BedBureau.Gateway.Storage;

namespace BedBureau.Gateway.Admin;

/// <summary>
/// <c>dotnet run --project src/Gateway -- admin ...</c>: organisations and their API keys, on the
/// database the server's configuration names (SQLite in the data directory, or PostgreSQL with
/// <c>ConnectionStrings:Postgres</c>). Settings come as for the server: appsettings.json,
/// environment variables, and <c>--Section:Key=value</c> arguments. Every action leaves an
/// audit record (action "admin/...", actor <c>--actor</c>).
/// </summary>
public static class AdminCommandLine
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Runs one admin command; returns the process exit code (0 done, 1 refused, 2 bad usage).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter? output = null, TextWriter? error = null, TimeProvider? time = null)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        time ??= TimeProvider.System;
        var root = Build(output, time);
        var parsed = root.Parse(args);
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }).ConfigureAwait(false);
    }

    private static RootCommand Build(TextWriter output, TimeProvider time)
    {
        var actor = new Option<string>("--actor") { Description = "Who acts, for the audit trail", DefaultValueFactory = _ => "admin-cli", Recursive = true };

        var id = new Option<string>("--id") { Description = "Organisation id; for a hospital its bureau hospital code (e.g. 01W9)", Required = true };
        var kind = new Option<string>("--kind") { Description = "hospital, polyclinic or admin", Required = true };
        kind.AcceptOnlyFromAmong("hospital", "polyclinic", "admin");
        var name = new Option<string>("--name") { Description = "Full name", Required = true };
        var bin = new Option<string>("--bin") { Description = "BIN: 12 digits with a valid check digit", Required = true };
        var region = new Option<string>("--region") { Description = "KATO region code (e.g. 75 for Almaty)", Required = true };
        var locality = new Option<string>("--locality") { Description = "A hospital's town or village", DefaultValueFactory = _ => "" };
        var profiles = new Option<string>("--profiles") { Description = "A hospital's bed-profile codes, comma-separated: adds it to the directory (served after a restart)", DefaultValueFactory = _ => "" };
        var create = new Command("create", "Creates or updates an organisation") { id, kind, name, bin, region, locality, profiles };
        create.SetAction((result, ct) => RunAsync(result, actor, output, time, ct, "admin/CreateOrganization", result.GetValue(id)!, async (storage, audit) =>
        {
            var organization = new Organization(result.GetValue(id)!.Trim(), Enum.Parse<OrganizationKind>(result.GetValue(kind)!, ignoreCase: true),
                result.GetValue(name)!.Trim(), result.GetValue(bin)!.Trim(), result.GetValue(region)!.Trim());
            var profileCodes = result.GetValue(profiles)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Validate(organization, profileCodes);
            await storage.Organizations.SaveOrganizationAsync(organization, ct).ConfigureAwait(false);
            if (profileCodes.Length > 0)
            {
                await storage.Directory.SaveHospitalsAsync([new HospitalRecord(organization.Id, organization.Bin, organization.Name, organization.RegionCode, result.GetValue(locality)!, profileCodes)], ct).ConfigureAwait(false);
            }

            await output.WriteLineAsync($"{organization.Id}\t{Kind(organization.Kind)}\t{organization.Bin}\t{organization.RegionCode}\t{organization.Name}").ConfigureAwait(false);
        }));

        var listOrganizations = new Command("list", "Lists organisations: id, kind, BIN, region, name");
        listOrganizations.SetAction((result, ct) => RunAsync(result, actor, output, time, ct, null, "", async (storage, _) =>
        {
            foreach (var o in await storage.Organizations.ListOrganizationsAsync(ct).ConfigureAwait(false))
            {
                await output.WriteLineAsync($"{o.Id}\t{Kind(o.Kind)}\t{o.Bin}\t{o.RegionCode}\t{o.Name}").ConfigureAwait(false);
            }
        }));

        var org = new Option<string>("--org") { Description = "Organisation id", Required = true };
        var issue = new Command("issue", "Issues a new API key; it is shown once, only its salted hash is stored") { org };
        issue.SetAction((result, ct) => RunAsync(result, actor, output, time, ct, "admin/IssueKey", result.GetValue(org)!, async (storage, audit) =>
        {
            var organization = await RequireOrganizationAsync(storage, result.GetValue(org)!, ct).ConfigureAwait(false);
            var key = await ApiKeys.IssueAsync(storage.Organizations, organization.Id, time, ct).ConfigureAwait(false);
            audit.Target = $"{organization.Id}/{key.KeyId}";
            await PrintKeyAsync(output, organization, key, []).ConfigureAwait(false);
        }));

        var rotateOrg = new Option<string>("--org") { Description = "Organisation id", Required = true };
        var rotate = new Command("rotate", "Issues a new API key and revokes the organisation's other keys") { rotateOrg };
        rotate.SetAction((result, ct) => RunAsync(result, actor, output, time, ct, "admin/RotateKey", result.GetValue(rotateOrg)!, async (storage, audit) =>
        {
            var organization = await RequireOrganizationAsync(storage, result.GetValue(rotateOrg)!, ct).ConfigureAwait(false);
            var key = await ApiKeys.IssueAsync(storage.Organizations, organization.Id, time, ct).ConfigureAwait(false);
            var revoked = new List<string>();
            foreach (var old in await storage.Organizations.ListKeysAsync(organization.Id, ct).ConfigureAwait(false))
            {
                if (old.KeyId != key.KeyId && old.RevokedAt is null)
                {
                    await storage.Organizations.RevokeKeyAsync(old.KeyId, time.GetUtcNow(), ct).ConfigureAwait(false);
                    revoked.Add(old.KeyId);
                }
            }

            audit.Target = $"{organization.Id}/{key.KeyId}";
            await PrintKeyAsync(output, organization, key, revoked).ConfigureAwait(false);
        }));

        var keyId = new Option<string>("--key-id") { Description = "The key's id: the part between 'bbk_' and the next '_'", Required = true };
        var revoke = new Command("revoke", "Revokes a key (running servers stop accepting it within 30 s)") { keyId };
        revoke.SetAction((result, ct) => RunAsync(result, actor, output, time, ct, "admin/RevokeKey", result.GetValue(keyId)!, async (storage, audit) =>
        {
            var record = await storage.Organizations.FindKeyAsync(result.GetValue(keyId)!, ct).ConfigureAwait(false)
                ?? throw new AdminException("NOT_FOUND", "UNKNOWN_KEY", $"key-id: no key {result.GetValue(keyId)}");
            if (record.RevokedAt is not null)
            {
                throw new AdminException("FAILED_PRECONDITION", "ALREADY_REVOKED", $"key-id: {record.KeyId} was revoked at {record.RevokedAt:O}");
            }

            await storage.Organizations.RevokeKeyAsync(record.KeyId, time.GetUtcNow(), ct).ConfigureAwait(false);
            audit.Target = $"{record.OrganizationId}/{record.KeyId}";
            await output.WriteLineAsync($"revoked {record.KeyId} of {record.OrganizationId}").ConfigureAwait(false);
        }));

        var listOrg = new Option<string>("--org") { Description = "Only this organisation's keys" };
        var listKeys = new Command("list", "Lists keys: key id, organisation, created, revoked (never the keys)") { listOrg };
        listKeys.SetAction((result, ct) => RunAsync(result, actor, output, time, ct, null, "", async (storage, _) =>
        {
            foreach (var k in await storage.Organizations.ListKeysAsync(result.GetValue(listOrg), ct).ConfigureAwait(false))
            {
                await output.WriteLineAsync($"{k.KeyId}\t{k.OrganizationId}\t{k.CreatedAt.UtcDateTime:O}\t{(k.RevokedAt is { } at ? at.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) : "active")}").ConfigureAwait(false);
            }
        }));

        var root = new RootCommand("BedBureau administration: organisations and API keys")
        {
            new Command("org", "Organisations: hospitals, polyclinics, ministry admins") { create, listOrganizations },
            new Command("key", "API keys") { issue, rotate, revoke, listKeys },
        };
        root.Options.Add(actor);
        foreach (var command in new Command[] { root, create, listOrganizations, issue, rotate, revoke, listKeys })
        {
            // Configuration overrides (--Storage:DataDirectory=..., --ConnectionStrings:Postgres=...) pass through.
            command.TreatUnmatchedTokensAsErrors = false;
        }

        return root;
    }

    private sealed class AuditNote
    {
        public string Target { get; set; } = "";
    }

    private sealed class AdminException(string outcome, string reason, string message) : Exception(message)
    {
        public string Outcome { get; } = outcome;

        public string Reason { get; } = reason;
    }

    /// <summary>Opens the configured storage (migrating it), runs the action, and records it in the audit trail.</summary>
    private static async Task<int> RunAsync(ParseResult result, Option<string> actor, TextWriter output, TimeProvider time, CancellationToken cancellationToken,
        string? action, string target, Func<GatewayStorage, AuditNote, Task> run)
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(result.UnmatchedTokens.ToArray())
            .Build();
        var dataDirectory = GatewayStorage.DataDirectoryOf(configuration);
        Directory.CreateDirectory(dataDirectory);
        await using var storage = GatewayStorage.Create(configuration, dataDirectory, time, metrics: null);
        await storage.MigrateAsync(cancellationToken).ConfigureAwait(false);
        var note = new AuditNote { Target = target };
        string outcome = "OK", reason = "";
        try
        {
            await run(storage, note).ConfigureAwait(false);
            return 0;
        }
        catch (Exception ex) when (ex is AdminException or DomainException)
        {
            (outcome, reason) = ex is AdminException a ? (a.Outcome, a.Reason) : ("INVALID_ARGUMENT", ((DomainException)ex).Reason);
            await result.InvocationConfiguration.Error.WriteLineAsync($"error: [{reason}] {ex.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (StorageUnavailableException)
        {
            outcome = "UNAVAILABLE";
            throw;
        }
        finally
        {
            if (action is not null && outcome != "UNAVAILABLE")
            {
                await storage.Audit.AppendAsync(new AuditRecord(0, result.GetValue(actor)!, action, note.Target, time.GetUtcNow(), Guid.NewGuid().ToString(), outcome, reason), CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private static void Validate(Organization organization, IReadOnlyList<string> profileCodes)
    {
        Identifiers.RequireCode(organization.Id, "id");

        // The ids the bureau's own changes and patients' cancellations are recorded under: an
        // organisation of that id would pass for them in events, audit records and request ids.
        if (new[] { Actor.Bureau, Actor.Patient }.Any(a => string.Equals(a.OrganizationId, organization.Id, StringComparison.OrdinalIgnoreCase)))
        {
            throw DomainException.Invalid("id", "RESERVED", $"{organization.Id} is reserved for the bureau's own records");
        }

        Identifiers.ValidateBin(organization.Bin, "bin");
        if (organization.Name.Length is 0 or > 300)
        {
            throw DomainException.Invalid("name", "OUT_OF_RANGE", "must have 1 to 300 characters");
        }

        if (!ReferenceCatalog.Regions.Any(r => r.Code == organization.RegionCode))
        {
            throw DomainException.Invalid("region", "UNKNOWN_REGION", "must be one of the 20 KATO region codes");
        }

        if (profileCodes.Count > 0 && organization.Kind != OrganizationKind.Hospital)
        {
            throw DomainException.Invalid("profiles", "NOT_A_HOSPITAL", "only hospitals have bed profiles");
        }

        if (profileCodes.FirstOrDefault(p => !ReferenceCatalog.BedProfiles.Any(b => b.Code == p)) is { } unknown)
        {
            throw DomainException.Invalid("profiles", "UNKNOWN_PROFILE", $"no bed profile {unknown}");
        }
    }

    private static async Task<Organization> RequireOrganizationAsync(GatewayStorage storage, string id, CancellationToken cancellationToken) =>
        await storage.Organizations.FindOrganizationAsync(id, cancellationToken).ConfigureAwait(false)
        ?? throw new AdminException("NOT_FOUND", "UNKNOWN_ORGANIZATION", $"org: no organisation {id}");

    private static string Kind(OrganizationKind kind) => kind.ToString().ToUpperInvariant();

    private static Task PrintKeyAsync(TextWriter output, Organization organization, ApiKey key, IReadOnlyList<string> revoked) =>
        output.WriteLineAsync(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["organization_id"] = organization.Id,
            ["kind"] = Kind(organization.Kind),
            ["name"] = organization.Name,
            ["key_id"] = key.KeyId,
            ["key"] = key.ToString(),
            ["revoked_key_ids"] = revoked,
        }, Indented));
}
