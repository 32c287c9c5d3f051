using System.Text.Json;
using BedBureau.Gateway.Admin;
using BedBureau.Gateway.Security;
using BedBureau.Gateway.Storage;
using BedBureau.Gateway.Tests.Storage;
using BedBureau.Wire;
using Microsoft.Extensions.Configuration;

namespace BedBureau.Gateway.Tests.Admin;

/// <summary>The admin command line on a real database: what it creates, issues, rotates and revokes takes effect, and is audited.</summary>
public abstract class AdminCommandLineTests
{
    /// <summary>The configuration arguments that name the database, as the server takes them.</summary>
    protected abstract Task<string[]> StorageArgumentsAsync();

    private async Task<(int Code, string Output, string Error)> RunAsync(string[] storage, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCommandLine.RunAsync([.. args, .. storage], output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static async Task<GatewayStorage> OpenAsync(string[] storage)
    {
        var configuration = new ConfigurationBuilder().AddCommandLine(storage).Build();
        var opened = GatewayStorage.Create(configuration, GatewayStorage.DataDirectoryOf(configuration), TimeProvider.System, null);
        await opened.MigrateAsync(default);
        return opened;
    }

    private static async Task<StatusCode> AuthenticateAsync(GatewayStorage storage, string key)
    {
        try
        {
            var caller = await new Authenticator(storage.Organizations, TimeProvider.System).AuthenticateAsync($"Bearer {key}", default);
            return caller is null ? StatusCode.Unknown : StatusCode.OK;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }

    private static string KeyOf(string json) => JsonDocument.Parse(json).RootElement.GetProperty("key").GetString()!;

    [Fact]
    public async Task Creates_organisations_and_issues_rotates_and_revokes_keys_that_take_effect()
    {
        var db = await StorageArgumentsAsync();
        Assert.Equal(0, (await RunAsync(db, "org", "create", "--id", "PC-TEST-1", "--kind", "polyclinic", "--name", "Polyclinic 1", "--bin", "990140000017", "--region", "75")).Code);
        var hospital = await RunAsync(db, "org", "create", "--id", "T01", "--kind", "hospital", "--name", "Hospital T01", "--bin", "000140000012", "--region", "71", "--profiles", "101,103");
        Assert.True(hospital.Code == 0, hospital.Error);
        var listed = await RunAsync(db, "org", "list");
        Assert.Contains("PC-TEST-1\tPOLYCLINIC\t990140000017\t75\tPolyclinic 1", listed.Output, StringComparison.Ordinal);
        Assert.Contains("T01\tHOSPITAL", listed.Output, StringComparison.Ordinal);

        var issued = await RunAsync(db, "key", "issue", "--org", "PC-TEST-1");
        Assert.True(issued.Code == 0, issued.Error);
        var first = KeyOf(issued.Output);
        var rotated = await RunAsync(db, "key", "rotate", "--org", "PC-TEST-1", "--actor", "ops-alice");
        Assert.True(rotated.Code == 0, rotated.Error);
        var second = KeyOf(rotated.Output);

        await using (var storage = await OpenAsync(db))
        {
            Assert.Equal(StatusCode.Unauthenticated, await AuthenticateAsync(storage, first));
            Assert.Equal(StatusCode.OK, await AuthenticateAsync(storage, second));
            var directory = await storage.Directory.ListHospitalsAsync(default);
            Assert.Equal(["101", "103"], directory.Single(h => h.Id == "T01").ProfileCodes.Order());
        }

        Assert.True(ApiKey.TryParse(second, out var secondKey));
        Assert.Equal(0, (await RunAsync(db, "key", "revoke", "--key-id", secondKey.KeyId)).Code);
        var again = await RunAsync(db, "key", "revoke", "--key-id", secondKey.KeyId);
        Assert.Equal(1, again.Code);
        Assert.Contains("ALREADY_REVOKED", again.Error, StringComparison.Ordinal);

        var keys = await RunAsync(db, "key", "list", "--org", "PC-TEST-1");
        var lines = keys.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.DoesNotContain("active", l, StringComparison.Ordinal));
        Assert.DoesNotContain(secondKey.Secret, keys.Output, StringComparison.Ordinal);

        await using (var storage = await OpenAsync(db))
        {
            Assert.Equal(StatusCode.Unauthenticated, await AuthenticateAsync(storage, second));
            var trail = await storage.Audit.ListAsync(new AuditQuery(null, null, null, null, null, 0, 100), default);
            Assert.Equal(
                ["admin/CreateOrganization OK", "admin/CreateOrganization OK", "admin/IssueKey OK", "admin/RotateKey OK", "admin/RevokeKey OK", "admin/RevokeKey FAILED_PRECONDITION"],
                trail.Select(r => $"{r.Action} {r.Outcome}"));
            Assert.Equal("ops-alice", trail[3].ActorOrganizationId);
            Assert.Equal("admin-cli", trail[0].ActorOrganizationId);
        }
    }

    [Fact]
    public async Task Bad_input_is_refused_naming_the_option_and_changes_nothing()
    {
        var db = await StorageArgumentsAsync();

        var badBin = await RunAsync(db, "org", "create", "--id", "PC-X", "--kind", "polyclinic", "--name", "X", "--bin", "990140000018", "--region", "75");
        var badRegion = await RunAsync(db, "org", "create", "--id", "PC-X", "--kind", "polyclinic", "--name", "X", "--bin", "990140000017", "--region", "99");
        var badKind = await RunAsync(db, "org", "create", "--id", "PC-X", "--kind", "clinic", "--name", "X", "--bin", "990140000017", "--region", "75");
        var unknownOrg = await RunAsync(db, "key", "issue", "--org", "NOPE");
        var patients = await RunAsync(db, "org", "create", "--id", "PATIENT", "--kind", "polyclinic", "--name", "X", "--bin", "990140000017", "--region", "75");
        var bureau = await RunAsync(db, "org", "create", "--id", "Bureau", "--kind", "polyclinic", "--name", "X", "--bin", "990140000017", "--region", "75");

        Assert.Equal((1, true), (badBin.Code, badBin.Error.Contains("bin", StringComparison.Ordinal)));
        Assert.Equal((1, true), (badRegion.Code, badRegion.Error.Contains("region", StringComparison.Ordinal)));
        Assert.NotEqual(0, badKind.Code);
        Assert.Equal((1, true), (unknownOrg.Code, unknownOrg.Error.Contains("UNKNOWN_ORGANIZATION", StringComparison.Ordinal)));
        Assert.All(new[] { patients, bureau }, reserved => Assert.Equal((1, true), (reserved.Code, reserved.Error.Contains("[RESERVED] id: ", StringComparison.Ordinal))));
        Assert.Equal("", (await RunAsync(db, "org", "list")).Output);
        await using var storage = await OpenAsync(db);
        var trail = await storage.Audit.ListAsync(new AuditQuery(null, null, null, null, null, 0, 100), default);
        Assert.Equal(["INVALID_ARGUMENT", "INVALID_ARGUMENT", "NOT_FOUND", "INVALID_ARGUMENT", "INVALID_ARGUMENT"], trail.Select(r => r.Outcome));
    }
}

public sealed class SqliteAdminCommandLineTests : AdminCommandLineTests
{
    protected override Task<string[]> StorageArgumentsAsync() =>
        Task.FromResult(new[] { $"--Storage:DataDirectory={Path.Combine(Path.GetTempPath(), "bedbureau-tests", Guid.NewGuid().ToString("N"))}" });
}

public sealed class PostgresAdminCommandLineTests : AdminCommandLineTests
{
    protected override async Task<string[]> StorageArgumentsAsync() =>
        [$"--ConnectionStrings:Postgres={await TestDatabases.CreatePostgresDatabaseAsync()}"];
}
