using System.Diagnostics;
using BedBureau.Contract.V1;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>
/// The web page in a real headless Chromium (Debian's, driven by playwright-core from npm, both
/// installed by .ci/run): a patient enters code and key and sees the status; a change made over
/// gRPC appears on the page by itself; the free-beds board marks a stale count; the patient
/// cancels the referral from the page, confirming with a reason.
/// </summary>
public sealed class BrowserPageTests(BrowserPageTests.PageGateway gateway) : IClassFixture<BrowserPageTests.PageGateway>
{
    /// <summary>A gateway of its own: the test moves its clock a day on.</summary>
    public sealed class PageGateway : GatewayFixture;

    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(60);

    /// <summary>tests/Gateway.Tests/browser in the source tree, found upwards from the test binary.</summary>
    internal static string BrowserDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Gateway.Tests", "browser");
            if (File.Exists(Path.Combine(candidate, "package.json")))
            {
                return File.Exists(Path.Combine(candidate, "node_modules", "playwright-core", "package.json"))
                    ? candidate
                    : throw new InvalidOperationException($"playwright-core is not installed: run 'npm ci' in {candidate} (.ci/run does).");
            }
        }

        throw new InvalidOperationException("tests/Gateway.Tests/browser not found above the test binary.");
    }

    [Fact]
    public async Task A_patient_sees_the_status_and_a_change_made_over_grpc_arrives_live()
    {
        var registered = await Scenario.RegisterAsync(gateway);
        using var hospital = gateway.ChannelFor(gateway.Hospital(1));
        var staleHospital = gateway.Hospital(1);
        var info = await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = staleHospital.organization_id });
        var boardProfile = info.Hospital.BedProfileCodes[0];
        await hospital.UnaryAsync(Api.SetAdmissionCapacity, new SetAdmissionCapacityRequest
        {
            RequestId = Guid.NewGuid().ToString(),
            BedProfileCode = boardProfile,
            Days = { new AdmissionDay { Date = GatewayFixture.Date(gateway.Today.AddDays(5)), Slots = 10 } },
        });

        // A day on, the counts the sample reported at the start are stale (an older report than the
        // stored one would be refused).
        gateway.Time.Advance(TimeSpan.FromHours(25));

        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = BrowserDirectory(),
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { "patient-page.mjs", gateway.HttpAddress, registered.HospitalizationCode, registered.AccessKey, boardProfile, info.Hospital.Name })
        {
            start.ArgumentList.Add(argument);
        }

        using var node = Process.Start(start)!;
        var errors = node.StandardError.ReadToEndAsync();
        try
        {
            var ready = await StepAsync(node, errors, "READY");
            Assert.Contains("Зарегистрировано", ready, StringComparison.Ordinal);

            using var own = gateway.ChannelFor(gateway.Hospital(0));
            await own.UnaryAsync(Api.Schedule, new ScheduleReferralRequest
            {
                RequestId = Guid.NewGuid().ToString(),
                HospitalizationCode = registered.HospitalizationCode,
                Reason = "Дата подтверждена больницей",
            });
            await node.StandardInput.WriteLineAsync("CHANGED");
            await node.StandardInput.FlushAsync();

            var updated = await StepAsync(node, errors, "UPDATED");
            Assert.Contains("Дата подтверждена больницей", updated, StringComparison.Ordinal);
            var board = await StepAsync(node, errors, "BOARD");
            Assert.Contains("rows=", board, StringComparison.Ordinal);
            var cancelled = await StepAsync(node, errors, "CANCELLED");
            Assert.Contains("Referral cancelled", cancelled, StringComparison.Ordinal);
            Assert.Contains("Treated at home", cancelled, StringComparison.Ordinal);
            await node.WaitForExitAsync().WaitAsync(StepTimeout);
            Assert.True(node.ExitCode == 0, $"the page script failed: {await errors}");

            using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
            var seen = (await polyclinic.UnaryAsync(Api.GetReferral, new GetReferralRequest { HospitalizationCode = registered.HospitalizationCode })).Referral;
            Assert.Equal((ReferralStatus.Cancelled, CancellationReason.Other), (seen.Status, seen.CancellationReason));
            Assert.Equal(("CANCELLED", "PATIENT", "Treated at home"), (seen.History[^1].Action, seen.History[^1].ActorOrganizationId, seen.History[^1].Reason));
        }
        finally
        {
            if (!node.HasExited)
            {
                node.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>The script's next line, which must start with <paramref name="step"/>; its stderr on failure.</summary>
    internal static async Task<string> StepAsync(Process node, Task<string> errors, string step)
    {
        var line = await node.StandardOutput.ReadLineAsync().WaitAsync(StepTimeout);
        if (line is null || !line.StartsWith(step, StringComparison.Ordinal))
        {
            await node.WaitForExitAsync().WaitAsync(StepTimeout);
            Assert.Fail($"expected {step}, the page script said '{line}' and: {await errors}");
        }

        return line;
    }
}

/// <summary>The web page on a gateway whose budget of failed lookups is spent from the start.</summary>
public sealed class BrowserPenaltyTests(BrowserPenaltyTests.SpentBudgetGateway gateway) : IClassFixture<BrowserPenaltyTests.SpentBudgetGateway>
{
    public sealed class SpentBudgetGateway : GatewayFixture
    {
        protected override Task<IEnumerable<string>> SettingsAsync() =>
            Task.FromResult<IEnumerable<string>>(["--Patients:FailedLookupBurst=0", "--Patients:FailedLookupsPerSecond=0.0001", "--Patients:FailedLookupPenalty=00:15:00"]);
    }

    [Fact]
    public async Task A_patient_who_mistypes_the_key_while_keys_are_guessed_is_told_to_wait_in_minutes()
    {
        var registered = await Scenario.RegisterAsync(gateway);
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = BrowserPageTests.BrowserDirectory(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { "patient-penalty.mjs", gateway.HttpAddress, registered.HospitalizationCode, registered.AccessKey })
        {
            start.ArgumentList.Add(argument);
        }

        using var node = Process.Start(start)!;
        var errors = node.StandardError.ReadToEndAsync();
        try
        {
            Assert.Contains("Неверный код или ключ доступа", await BrowserPageTests.StepAsync(node, errors, "WRONG"), StringComparison.Ordinal);

            // The 15-minute penalty and the second the bucket needs for its next token: 901 s, 16 min.
            Assert.Contains("Повторите через 16 мин.", await BrowserPageTests.StepAsync(node, errors, "WAIT"), StringComparison.Ordinal);
            await node.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(node.ExitCode == 0, $"the page script failed: {await errors}");
        }
        finally
        {
            if (!node.HasExited)
            {
                node.Kill(entireProcessTree: true);
            }
        }
    }
}
