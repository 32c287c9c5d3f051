using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using BedBureau.HospitalAdapter.Configuration;
using BedBureau.HospitalAdapter.Input;
using BedBureau.HospitalAdapter.Push;
using BedBureau.Wire;
using Spectre.Console;

namespace BedBureau.HospitalAdapter;

/// <summary>The command line: <c>push</c> once, or <c>watch</c> and push on every change.</summary>
public static class AdapterCli
{
    /// <summary>Exit code: sent, and the bureau shows it.</summary>
    public const int Ok = 0;

    /// <summary>Exit code: not sent; the bureau refused it or could not be reached in the attempts given.</summary>
    public const int SendFailed = 1;

    /// <summary>Exit code: nothing sent because of the command line, the settings or a bad file.</summary>
    public const int BadInput = 2;

    /// <summary>Exit code: partly sent; the bureau applied some calls (the beds, some calendars), then refused one or could not be reached.</summary>
    public const int PartlySent = 3;

    public static async Task<int> RunAsync(string[] args, IAnsiConsole console, TextWriter output, Func<string, string?> environment, TimeProvider time, CancellationToken cancellationToken)
    {
        var server = Setting("--server", "server", "The bureau's gRPC address: http://host:port (h2c) or https://host:port (TLS)");
        var apiKey = Setting("--api-key", "api_key", "The hospital's API key (prefer the environment or the config file: flags show in the process list)");
        var hospitalId = Setting("--hospital-id", "hospital_id", "The hospital's id in the bureau, e.g. 01W9; required to send: the files' bed profiles are checked against the hospital's before anything is sent");
        var caCert = Setting("--ca-cert", "ca_cert", "PEM file of the bureau's root CA; the server sends the intermediates");
        var clientCert = Setting("--client-cert", "client_cert", "Client certificate for mutual TLS: PEM (with --client-key) or .pfx/.p12");
        var clientKey = Setting("--client-key", "client_key", "PEM private key of --client-cert");
        var timeout = Setting("--timeout-seconds", "timeout_seconds", "Deadline of each call (default 30)");
        var config = new Option<string?>("--config") { Description = "JSON config file with the connection settings (--server, --api-key, ...) as keys by their snake_case names, e.g. api_key. Environment: BEDBUREAU_CONFIG", Recursive = true };
        var settingOptions = new[] { server, apiKey, hospitalId, caCert, clientCert, clientKey, timeout };
        string[] settingNames = ["server", "api_key", "hospital_id", "ca_cert", "client_cert", "client_key", "timeout_seconds"];

        var beds = new Option<FileInfo?>("--beds") { Description = "Bed counts: a CSV export or a FHIR R4 Bundle of Location resources (.json)" };
        var format = new Option<BedFileFormat>("--format") { Description = "Format of --beds: Auto (by extension), Csv or Fhir", DefaultValueFactory = _ => BedFileFormat.Auto };
        var calendar = new Option<FileInfo?>("--calendar") { Description = "Admission calendar CSV: bed_profile_code,date,slots" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Read and check the files, show what would be sent, send nothing" };
        var retries = new Option<int>("--attempts") { Description = "Attempts per call when the bureau is unreachable or busy", DefaultValueFactory = _ => 5 };
        var every = new Option<double?>("--every") { Description = "Also push every N minutes, changed or not" };
        var poll = new Option<double>("--poll-seconds") { Description = "How often to look at the files for changes", DefaultValueFactory = _ => 2 };

        var push = new Command("push", "Read the export files and send them to the bureau once. Exit code 0 sent; 1 not sent, the bureau refused it or was unreachable; 2 nothing sent because of the command line, a setting, a bad file or the bureau's certificate; 3 partly sent (the summary says what was and what was not)")
        {
            beds, format, calendar, dryRun, retries,
        };
        push.SetAction((result, ct) => Run(result, async settings =>
        {
            var export = Read(result, beds, format, calendar, time);
            var plan = PushPlan.Build(export, settings.HospitalId);
            Show(console, plan);
            if (result.GetValue(dryRun))
            {
                SayPastDatesSkipped(console, plan);
                console.MarkupLine("[yellow]Dry run:[/] nothing was sent.");
                return Ok;
            }

            using var client = settings.Connect();
            var pusher = new Pusher(client, Backoff.Default(), time);
            pusher.Retrying += (attempt, error, wait) => console.MarkupLineInterpolated($"[yellow]{error.StatusCode}[/] {error.Status.Detail}: attempt {attempt} failed, retrying in {wait.TotalSeconds:0.0} s");
            var outcome = await SendWithProgressAsync(console, pusher, plan, Math.Max(1, result.GetValue(retries)), ct).ConfigureAwait(false);
            return Summarize(console, settings, plan, outcome);
        }));

        var watch = new Command("watch", "Push now, then again whenever the files change (and every N minutes with --every); retries through outages") { beds, format, calendar, dryRun, every, poll };
        watch.SetAction((result, ct) => Run(result, async settings =>
        {
            var files = new[] { result.GetValue(beds)?.FullName, result.GetValue(calendar)?.FullName }.OfType<string>().ToArray();
            if (files.Length == 0)
            {
                throw new SettingsException("--beds", "give --beds and/or --calendar");
            }

            // A dry run connects to nothing, as push --dry-run: it needs no API key and no bureau.
            var dry = result.GetValue(dryRun);
            using var client = dry ? null : settings.Connect();
            var pusher = client is null ? null : new Pusher(client, Backoff.Default(), time);
            var observer = new ConsoleWatchObserver(console, settings);
            var minutes = result.GetValue(every);
            var watcher = new ExportWatcher(
                now => ExportReader.Read(result.GetValue(beds)?.FullName, result.GetValue(format), result.GetValue(calendar)?.FullName, now),
                files,
                export => PushPlan.Build(export, settings.HospitalId),
                pusher,
                observer,
                time,
                TimeSpan.FromSeconds(Math.Max(0.05, result.GetValue(poll))),
                minutes is > 0 ? TimeSpan.FromMinutes(minutes.Value) : null);
            console.MarkupLineInterpolated($"Watching {string.Join(", ", files)} for {settings.Describe()}; Ctrl+C stops.");
            try
            {
                await watcher.RunAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }

            return Ok;
        }));

        var root = new RootCommand("BedBureau hospital adapter: keeps the bureau current with the hospital's beds and admission calendar.")
        {
            push, watch,
        };
        foreach (var option in settingOptions)
        {
            root.Add(option);
        }

        root.Add(config);

        // System.CommandLine exits with 1 on a parse error, which here means "not sent by the bureau":
        // a wrong command line is a usage error, like a wrong setting.
        var parsed = root.Parse(args);
        var exit = await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = output }, cancellationToken).ConfigureAwait(false);
        return parsed.Errors.Count > 0 ? BadInput : exit;

        async Task<int> Run(ParseResult result, Func<AdapterSettings, Task<int>> action)
        {
            try
            {
                var flags = new Dictionary<string, string?>();
                for (var i = 0; i < settingOptions.Length; i++)
                {
                    flags[settingNames[i]] = result.GetValue(settingOptions[i]);
                }

                var settings = AdapterSettings.Resolve(flags, environment, result.GetValue(config));
                return await action(settings).ConfigureAwait(false);
            }
            catch (InputException ex)
            {
                console.MarkupLineInterpolated($"[red]Rejected, nothing sent:[/] {ex.File}, {ex.Location}, field {ex.Field}: {ex.Reason}");
                return BadInput;
            }
            catch (SettingsException ex)
            {
                console.MarkupLineInterpolated($"[red]Configuration:[/] {ex.Message}");
                return BadInput;
            }
            catch (ServerCertificateException ex)
            {
                // Deliberately final, in watch too: waiting cannot fix a certificate.
                var command = result.CommandResult.Command.Name;
                var stopped = command == "watch" ? "Stopped watching" : "Not sent";
                console.MarkupLineInterpolated($"[red]{stopped}, the bureau's certificate is not trusted[/] ({ex.Server}): {ex.Reason}. Not retried: the same certificate fails the same way until it or the settings change. Check ca_cert, server and this computer's clock; if they are right, the bureau must fix its certificate. Then run {command} again.");
                return BadInput;
            }
        }
    }

    private static Option<string?> Setting(string flag, string name, string description) =>
        new(flag) { Description = $"{description}. Environment: {AdapterSettings.EnvironmentPrefix}{name.ToUpperInvariant()}", Recursive = true };

    private static HospitalExport Read(ParseResult result, Option<FileInfo?> beds, Option<BedFileFormat> format, Option<FileInfo?> calendar, TimeProvider time)
    {
        var bedsFile = result.GetValue(beds)?.FullName;
        var calendarFile = result.GetValue(calendar)?.FullName;
        return bedsFile is null && calendarFile is null
            ? throw new SettingsException("--beds", "give --beds and/or --calendar")
            : ExportReader.Read(bedsFile, result.GetValue(format), calendarFile, time.GetUtcNow());
    }

    internal static void Show(IAnsiConsole console, PushPlan plan)
    {
        var export = plan.Export;
        if (plan.Beds is { } beds)
        {
            var table = new Table().Title($"ReportBeds {beds.RequestId}").AddColumns("profile", "total", "occupied", "free", "free male", "free female", "reported at");
            foreach (var count in export.Beds)
            {
                table.AddRow(count.ProfileCode, $"{count.Total}", $"{count.Occupied}", $"{count.Free}", $"{count.FreeMale}", $"{count.FreeFemale}", $"{count.ReportedAt:yyyy-MM-ddTHH:mm:sszzz}");
            }

            console.Write(table);
        }

        if (plan.Calendars.Count > 0)
        {
            var table = new Table().Title("SetAdmissionCapacity").AddColumns("profile", "dates", "from", "to", "slots", "request id");
            foreach (var calendar in plan.Calendars)
            {
                var days = export.Calendars.Single(c => c.ProfileCode == calendar.BedProfileCode).Days;
                table.AddRow(calendar.BedProfileCode, $"{days.Count}", $"{days[0].Date:yyyy-MM-dd}", $"{days[^1].Date:yyyy-MM-dd}", $"{days.Sum(d => d.Slots)}", calendar.RequestId);
            }

            console.Write(table);
        }
    }

    private static void SayPastDatesSkipped(IAnsiConsole console, PushPlan plan)
    {
        if (plan.PastDatesSkipped > 0)
        {
            console.MarkupLineInterpolated($"[yellow]{plan.PastDatesSkipped} past date{(plan.PastDatesSkipped == 1 ? "" : "s")} skipped[/] in the calendar: days before today are not sent (the bureau no longer changes them).");
        }
    }

    private static async Task<PushOutcome> SendWithProgressAsync(IAnsiConsole console, Pusher pusher, PushPlan plan, int attempts, CancellationToken cancellationToken)
    {
        if (!console.Profile.Capabilities.Interactive)
        {
            pusher.Sent += what => console.MarkupLineInterpolated($"sent {what}");
            return await pusher.PushAsync(plan, attempts, cancellationToken).ConfigureAwait(false);
        }

        return await console.Progress().StartAsync(async context =>
        {
            var task = context.AddTask("sending", maxValue: plan.CallCount);
            pusher.Sent += _ => task.Increment(1);
            return await pusher.PushAsync(plan, attempts, cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    internal static int Summarize(IAnsiConsole console, AdapterSettings settings, PushPlan plan, PushOutcome outcome)
    {
        if (outcome.Beds is { } beds)
        {
            var table = new Table().Title("The bureau now shows").AddColumns("profile", "total", "occupied", "free", "reported at", "freshness");
            foreach (var census in beds.Census)
            {
                table.AddRow(census.BedProfileCode, $"{census.Total}", $"{census.Occupied}", $"{census.Free}", $"{census.ReportedAt?.ToDateTimeOffset():O}", $"{census.Freshness}");
            }

            console.Write(table);
        }

        if (outcome.Calendars.Count > 0)
        {
            var table = new Table().Title("Admission calendars now").AddColumns("profile", "days", "slots", "reserved", "over capacity");
            foreach (var (profile, calendar) in outcome.Calendars)
            {
                table.AddRow(profile, $"{calendar.Days.Count}", $"{calendar.Days.Sum(d => d.Slots)}", $"{calendar.Days.Sum(d => d.Reserved)}", $"{calendar.Days.Count(d => d.OverCapacity)}");
            }

            console.Write(table);
        }

        SayPastDatesSkipped(console, plan);
        if (outcome.Error is { } error)
        {
            var failed = outcome.Applied;
            var calls = Calls(plan, error, failed);
            if (failed == 0)
            {
                var call = outcome.DirectoryRead ? $"{calls[0]}: " : "";
                console.MarkupLineInterpolated($"[red]Not sent ({error.StatusCode}):[/] {call}{error.Status.Detail} ({settings.Server})");
                return SendFailed;
            }

            var untried = calls.Count > failed + 1 ? $"; {string.Join(", ", calls.Skip(failed + 1))} not sent either (not tried)" : "";
            console.MarkupLineInterpolated($"[red]Partly sent ({error.StatusCode}):[/] {string.Join(", ", calls.Take(failed))} sent; {calls[failed]} not sent: {error.Status.Detail}{untried} ({settings.Server}). The values are absolute: push the corrected files again.");
            return PartlySent;
        }

        console.MarkupLineInterpolated($"[green]Sent[/] to {settings.Describe()}.");
        return Ok;
    }

    /// <summary>
    /// The plan's calls in the order they are sent, as the files name them: "beds", then "calendar
    /// of profile 103 (calendar.csv, line 5)". The refused call, the one at <paramref name="failed"/>,
    /// names the row of the report or the date the bureau's reason names (<c>reports[2]...</c>,
    /// <c>days[3]...</c>), if it names one.
    /// </summary>
    private static List<string> Calls(PushPlan plan, RpcException error, int failed)
    {
        var named = Regex.Match(error.Status.Detail, @"\b(reports|days)\[(\d+)\]");
        int? Named(string list, int count) =>
            named.Success && named.Groups[1].Value == list && int.TryParse(named.Groups[2].Value, CultureInfo.InvariantCulture, out var i) && i < count ? i : null;

        var calls = new List<string>();
        if (plan.Beds is not null)
        {
            var row = calls.Count == failed && Named("reports", plan.Export.Beds.Count) is { } i ? $" ({plan.Export.Beds[i].Origin})" : "";
            calls.Add("beds" + row);
        }

        foreach (var calendar in plan.Export.Calendars)
        {
            var origin = calls.Count == failed && Named("days", calendar.Days.Count) is { } i ? calendar.Days[i].Origin : calendar.Origin;
            calls.Add($"calendar of profile {calendar.ProfileCode} ({origin})");
        }

        return calls;
    }

    private sealed class ConsoleWatchObserver(IAnsiConsole console, AdapterSettings settings) : IWatchObserver
    {
        public void Rejected(InputException error) =>
            console.MarkupLineInterpolated($"[red]Rejected, nothing sent:[/] {error.File}, {error.Location}, field {error.Field}: {error.Reason}");

        public void Retrying(int attempt, RpcException error, TimeSpan wait) =>
            console.MarkupLineInterpolated($"[yellow]{error.StatusCode}[/] {error.Status.Detail}: attempt {attempt} failed, retrying in {wait.TotalSeconds:0.0} s");

        public void Pushed(PushPlan plan, PushOutcome? outcome)
        {
            if (outcome is null)
            {
                console.MarkupLineInterpolated($"[yellow]Dry run:[/] would send {plan.CallCount} call(s): {plan.Beds?.RequestId} {string.Join(' ', plan.Calendars.Select(c => c.RequestId))}");
                SayPastDatesSkipped(console, plan);
                return;
            }

            Summarize(console, settings, plan, outcome);
        }
    }
}
