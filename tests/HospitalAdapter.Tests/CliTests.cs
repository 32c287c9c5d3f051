using BedBureau.Contract.V1;
using BedBureau.HospitalAdapter.Input;
using Spectre.Console;

namespace BedBureau.HospitalAdapter.Tests;

/// <summary>The command line end to end: arguments in, a real gateway behind, exit code and output out.</summary>
[Collection(GatewayCollection.Name)]
public sealed class CliTests(GatewayFixture fixture) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("adapter-cli").FullName;
    private readonly StringWriter _output = new();

    private TestGateway Gateway => fixture.Gateway;

    private static DateOnly Today => ExportRules.Today(DateTimeOffset.UtcNow);

    [Fact]
    public async Task Push_sends_the_csv_beds_and_calendar_and_the_bureau_shows_them()
    {
        var profiles = (await Gateway.GetHospitalAsync()).Hospital.BedProfileCodes;
        var beds = Write("beds.csv", "bed_profile_code,total,occupied,free,free_male,free_female\n" +
            string.Join('\n', profiles.Select((p, i) => $"{p},{50 + i},{20 + i},{9},{4},{5}")) + "\n");
        var calendar = Write("calendar.csv", $"bed_profile_code,date,slots\n{profiles[0]},{Today.AddDays(1):yyyy-MM-dd},7\n{profiles[0]},{Today.AddDays(2):yyyy-MM-dd},8\n");

        var exit = await Run("push", "--beds", beds, "--calendar", calendar, "--server", Gateway.Address, "--hospital-id", Gateway.HospitalId, "--api-key", Gateway.HospitalKey);

        Assert.True(exit == AdapterCli.Ok, _output.ToString());
        var census = (await Gateway.GetHospitalAsync()).Census;
        for (var i = 0; i < profiles.Count; i++)
        {
            var shown = census.Single(c => c.BedProfileCode == profiles[i]);
            Assert.Equal((50 + i, 20 + i, 9, 4, 5), (shown.Total, shown.Occupied, shown.Free, shown.FreeMale, shown.FreeFemale));
        }

        Assert.Contains($"sent {profiles[0]}", _output.ToString(), StringComparison.Ordinal);
        Assert.Contains("Admission calendars now", _output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Push_takes_a_fhir_bundle_and_settings_from_the_environment_and_a_config_file()
    {
        var profile = (await Gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0];
        var bundle = Write("beds.json", FhirBedBundleTests.Bundle(
            [FhirBedBundleTests.Bed("b1", profile, "O"), FhirBedBundleTests.Bed("b2", profile, "U"), FhirBedBundleTests.Bed("b3", profile, "C")]));
        var config = Write("adapter.json", $$"""{ "server": "{{Gateway.Address}}" }""");
        var environment = new Dictionary<string, string> { ["BEDBUREAU_API_KEY"] = Gateway.HospitalKey, ["BEDBUREAU_HOSPITAL_ID"] = Gateway.HospitalId, ["BEDBUREAU_CONFIG"] = config };

        var exit = await Run(environment, "push", "--beds", bundle);

        Assert.True(exit == AdapterCli.Ok, _output.ToString());
        var shown = (await Gateway.GetHospitalAsync()).Census.Single(c => c.BedProfileCode == profile);
        Assert.Equal((3, 1, 1), (shown.Total, shown.Occupied, shown.Free));
    }

    [Fact]
    public async Task A_bad_file_is_rejected_whole_and_nothing_is_sent()
    {
        var hospital = await Gateway.GetHospitalAsync();
        var profiles = hospital.Hospital.BedProfileCodes;
        var before = hospital.Census;

        // Good rows first: none of them may reach the bureau because a later row is wrong.
        var rows = profiles.Select(p => $"{p},900,1,1").Append("999,10,5,6");
        var beds = Write("beds.csv", "bed_profile_code,total,occupied,free\n" + string.Join('\n', rows) + "\n");

        var exit = await Run("push", "--beds", beds, "--server", Gateway.Address, "--hospital-id", Gateway.HospitalId, "--api-key", Gateway.HospitalKey);

        Assert.Equal(AdapterCli.BadInput, exit);
        Assert.Contains($"{beds}, line {profiles.Count + 2}, field free: 6 is more than total - occupied (5)", Flat(), StringComparison.Ordinal);
        Assert.Equal(before, (await Gateway.GetHospitalAsync()).Census);
    }

    [Fact]
    public async Task A_profile_the_hospital_does_not_have_in_the_calendar_rejects_the_files_and_nothing_is_sent()
    {
        var hospital = await Gateway.GetHospitalAsync();
        var profile = hospital.Hospital.BedProfileCodes[0];
        var date = Today.AddDays(3);
        var slots = await Gateway.SlotsAsync(profile, date);
        var beds = Write("beds.csv", $"bed_profile_code,total,occupied,free\n{profile},555,5,5\n");

        // The good profile's calendar comes first: neither it nor the beds may reach the bureau.
        var calendar = Write("calendar.csv", $"bed_profile_code,date,slots\n{profile},{date:yyyy-MM-dd},77\n999,{date:yyyy-MM-dd},5\n");

        var exit = await Run("push", "--beds", beds, "--calendar", calendar, "--server", Gateway.Address, "--hospital-id", Gateway.HospitalId, "--api-key", Gateway.HospitalKey);

        Assert.Equal(AdapterCli.BadInput, exit);
        Assert.Contains($"Rejected, nothing sent: {calendar}, line 3, field bed_profile_code: hospital {Gateway.HospitalId} has no bed profile 999 in the bureau's directory (it has {string.Join(", ", hospital.Hospital.BedProfileCodes)})",
            Flat(), StringComparison.Ordinal);
        Assert.Equal(hospital.Census, (await Gateway.GetHospitalAsync()).Census);
        Assert.Equal(slots, await Gateway.SlotsAsync(profile, date));
    }

    [Fact]
    public async Task A_fhir_bed_of_a_profile_the_hospital_does_not_have_is_named_by_its_resource_id_and_nothing_is_sent()
    {
        var hospital = await Gateway.GetHospitalAsync();
        var profile = hospital.Hospital.BedProfileCodes[0];
        var bundle = Write("beds.json", FhirBedBundleTests.Bundle(
            [FhirBedBundleTests.Bed("b1", profile, "O"), FhirBedBundleTests.Bed("b2", "999", "U"), FhirBedBundleTests.Bed("b3", "999", "U")]));

        var exit = await Run("push", "--beds", bundle, "--server", Gateway.Address, "--hospital-id", Gateway.HospitalId, "--api-key", Gateway.HospitalKey);

        Assert.Equal(AdapterCli.BadInput, exit);
        Assert.Contains($"Rejected, nothing sent: {bundle}, Location/b2, field bed_profile_code: hospital {Gateway.HospitalId} has no bed profile 999", Flat(), StringComparison.Ordinal);
        Assert.Equal(hospital.Census, (await Gateway.GetHospitalAsync()).Census);
    }

    [Fact]
    public async Task A_calendar_the_bureau_refuses_after_the_beds_were_applied_is_reported_as_partly_sent()
    {
        var profile = (await Gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0];
        var beds = Write("beds.csv", $"bed_profile_code,total,occupied,free\n{profile},556,6,6\n");

        // This computer's clock is 5 days fast: the last of the 90 days ahead by its calendar is
        // beyond the bureau's, a refusal the adapter cannot foresee.
        var clock = new FastClock(TimeSpan.FromDays(5));
        var last = ExportRules.Today(clock.GetUtcNow()).AddDays(CalendarCsv.DaysAhead);
        var calendar = Write("calendar.csv", $"bed_profile_code,date,slots\n{profile},{last:yyyy-MM-dd},7\n");

        var exit = await AdapterCli.RunAsync(["push", "--beds", beds, "--calendar", calendar, "--server", Gateway.Address, "--hospital-id", Gateway.HospitalId, "--api-key", Gateway.HospitalKey],
            PlainConsole.Writing(_output), _output, _ => null, clock, CancellationToken.None);

        Assert.Equal(AdapterCli.PartlySent, exit);
        Assert.Contains($"Partly sent (InvalidArgument): beds sent; calendar of profile {profile} ({calendar}, line 2) not sent: [OUT_OF_RANGE] days[0].date: must be from today", Flat(), StringComparison.Ordinal);
        Assert.Equal(556, (await Gateway.GetHospitalAsync()).Census.Single(c => c.BedProfileCode == profile).Total);
    }

    [Fact]
    public async Task An_empty_calendar_file_is_rejected_and_nothing_is_sent()
    {
        var hospital = await Gateway.GetHospitalAsync();
        var profile = hospital.Hospital.BedProfileCodes[0];
        var beds = Write("beds.csv", $"bed_profile_code,total,occupied,free\n{profile},901,1,1\n");
        var calendar = Write("calendar.csv", "bed_profile_code,date,slots\n");

        var alone = await Run("push", "--calendar", calendar, "--server", Gateway.Address, "--hospital-id", Gateway.HospitalId, "--api-key", Gateway.HospitalKey);
        var withBeds = await Run("push", "--beds", beds, "--calendar", calendar, "--server", Gateway.Address, "--hospital-id", Gateway.HospitalId, "--api-key", Gateway.HospitalKey);

        Assert.Equal((AdapterCli.BadInput, AdapterCli.BadInput), (alone, withBeds));
        Assert.Contains($"{calendar}, line 2, field row: the file has a header but no admission days", Flat(), StringComparison.Ordinal);
        Assert.DoesNotContain("Sent", _output.ToString(), StringComparison.Ordinal);
        Assert.Equal(hospital.Census, (await Gateway.GetHospitalAsync()).Census);
    }

    [Fact]
    public async Task Past_calendar_dates_are_skipped_and_the_beds_and_the_other_dates_are_sent()
    {
        var profile = (await Gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0];
        var beds = Write("beds.csv", $"bed_profile_code,total,occupied,free\n{profile},902,2,2\n");

        // A rolling calendar exported yesterday, read after midnight.
        var calendar = Write("calendar.csv", $"bed_profile_code,date,slots\n{profile},{Today.AddDays(-1):yyyy-MM-dd},3\n{profile},{Today.AddDays(29):yyyy-MM-dd},4\n");

        var exit = await Run("push", "--beds", beds, "--calendar", calendar, "--server", Gateway.Address, "--hospital-id", Gateway.HospitalId, "--api-key", Gateway.HospitalKey);

        Assert.True(exit == AdapterCli.Ok, _output.ToString());
        Assert.Equal(902, (await Gateway.GetHospitalAsync()).Census.Single(c => c.BedProfileCode == profile).Total);
        Assert.Contains($"sent {profile}", _output.ToString(), StringComparison.Ordinal);
        Assert.Contains("1 past date skipped", Flat(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_calendar_alone_with_only_past_dates_is_not_sent()
    {
        var profile = (await Gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0];
        var calendar = Write("calendar.csv", $"bed_profile_code,date,slots\n{profile},{Today.AddDays(-2):yyyy-MM-dd},3\n{profile},{Today.AddDays(-1):yyyy-MM-dd},3\n");

        var exit = await Run("push", "--calendar", calendar, "--server", Gateway.Address, "--hospital-id", Gateway.HospitalId, "--api-key", Gateway.HospitalKey);

        Assert.Equal(AdapterCli.BadInput, exit);
        Assert.Contains($"all 2 dates are before today ({Today:yyyy-MM-dd}): nothing to send", Flat(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dry_run_shows_the_calls_and_sends_nothing()
    {
        var hospital = await Gateway.GetHospitalAsync();
        var profile = hospital.Hospital.BedProfileCodes[0];
        var beds = Write("beds.csv", $"bed_profile_code,total,occupied,free\n{profile},777,700,70\n");

        var exit = await Run("push", "--beds", beds, "--dry-run", "--server", Gateway.Address, "--api-key", Gateway.HospitalKey);

        Assert.Equal(AdapterCli.Ok, exit);
        Assert.Contains("777", _output.ToString(), StringComparison.Ordinal);
        Assert.Contains("Dry run: nothing was sent", Flat(), StringComparison.Ordinal);
        Assert.DoesNotContain((await Gateway.GetHospitalAsync()).Census, c => c.Total == 777);
    }

    [Fact]
    public async Task Dry_run_needs_neither_an_api_key_nor_the_bureau_in_push_and_in_watch()
    {
        var beds = Write("beds.csv", "bed_profile_code,total,occupied,free\n101,10,5,5\n");

        // Nothing listens on port 1, and no key is given.
        var pushed = await Run("push", "--beds", beds, "--dry-run", "--server", "http://127.0.0.1:1");
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var output = new CancelWhenWritten(_output, "would send 1 call(s)", stop);
        var watched = await AdapterCli.RunAsync(["watch", "--beds", beds, "--dry-run", "--server", "http://127.0.0.1:1"],
            PlainConsole.Writing(output), output, _ => null, TimeProvider.System, stop.Token);

        Assert.Equal((AdapterCli.Ok, AdapterCli.Ok), (pushed, watched));
        Assert.Contains("Dry run: nothing was sent", Flat(), StringComparison.Ordinal);
        Assert.Contains("Dry run: would send 1 call(s)", Flat(), StringComparison.Ordinal);
        Assert.DoesNotContain("api_key", Flat(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rejected_push_exits_non_zero_with_the_bureaus_reason()
    {
        var profile = (await Gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0];
        var beds = Write("beds.csv", $"bed_profile_code,total,occupied,free\n{profile},10,5,5\n");

        var exit = await Run("push", "--beds", beds, "--server", Gateway.Address, "--hospital-id", Gateway.HospitalId, "--api-key", "bbk_0000000000000000_wrong");

        Assert.Equal(AdapterCli.SendFailed, exit);
        Assert.Contains("Not sent (Unauthenticated)", Flat(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_api_key_is_a_configuration_error()
    {
        var beds = Write("beds.csv", "bed_profile_code,total,occupied,free\n101,10,5,5\n");

        var exit = await Run("push", "--beds", beds, "--server", Gateway.Address, "--hospital-id", Gateway.HospitalId);

        Assert.Equal(AdapterCli.BadInput, exit);
        Assert.Contains("Configuration: api_key: is required", Flat(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("push", "--bogus")]
    [InlineData("push", "--attempts", "many")]
    [InlineData("upload")]
    [InlineData]
    public async Task A_wrong_command_line_is_a_usage_error_not_a_failed_send(params string[] args)
    {
        var exit = await Run(args);

        Assert.Equal(AdapterCli.BadInput, exit);
    }

    [Fact]
    public async Task Help_lists_the_config_file_after_the_settings_it_holds()
    {
        var exit = await Run("--help");

        Assert.Equal(AdapterCli.Ok, exit);
        var help = _output.ToString();
        Assert.True(help.IndexOf("--server", StringComparison.Ordinal) < help.IndexOf("--config", StringComparison.Ordinal), help);
        Assert.Contains("connection settings (--server, --api-key, ...)", Flat(), StringComparison.Ordinal);
    }

    private Task<int> Run(params string[] args) => Run(new Dictionary<string, string>(), args);

    private Task<int> Run(Dictionary<string, string> environment, params string[] args)
    {
        return AdapterCli.RunAsync(args, PlainConsole.Writing(_output), _output, environment.GetValueOrDefault, TimeProvider.System, CancellationToken.None);
    }

    private string Flat() => string.Join(' ', _output.ToString().Split('\n', StringSplitOptions.TrimEntries));

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>The clock of a computer that is fast.</summary>
    private sealed class FastClock(TimeSpan ahead) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + ahead;
    }

    /// <summary>Writes through to <paramref name="inner"/> and cancels <paramref name="stop"/> once the text written so far contains <paramref name="text"/>: ends a watch when it has shown what the test waits for.</summary>
    private sealed class CancelWhenWritten(StringWriter inner, string text, CancellationTokenSource stop) : TextWriter
    {
        public override System.Text.Encoding Encoding => inner.Encoding;

        public override void Write(char value)
        {
            inner.Write(value);
            Check();
        }

        public override void Write(string? value)
        {
            inner.Write(value);
            Check();
        }

        private void Check()
        {
            if (inner.ToString().Contains(text, StringComparison.Ordinal))
            {
                stop.Cancel();
            }
        }
    }

    public void Dispose()
    {
        _output.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
