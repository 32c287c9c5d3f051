using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

/// <summary>Idle bed grains deactivate after the configured time and come back with the same state.</summary>
public sealed class GrainReactivationTests
{
    [Fact]
    public async Task An_idle_bed_grain_deactivates_and_reactivates_with_the_same_state()
    {
        await using var world = new TestWorld(runtime: new GrainRuntimeOptions { IdleTimeout = TimeSpan.FromMinutes(10) });
        await world.OpenCalendarAsync(CityCardiology, 2);
        var first = await world.RegisterAsync(CityCardiology, AdultIin(), world.Today.AddDays(1));
        var second = await world.RegisterAsync(CityCardiology, AdultIin(), world.Today.AddDays(1));
        await world.Bureau.CancelAsync(first.View.Referral.HospitalizationCode, Clinic, "c", CancellationReason.PatientRequest, "");
        var before = await world.Bureau.CallAsync(CityCardiology, world.Today, static (g, d) => Task.FromResult((g.Version, g.CalendarFrom(d), g.QueueLength)));

        world.Time.Advance(TimeSpan.FromMinutes(16));
        await WaitUntil(() => world.Bureau.Grains.ActivationCount == 0);

        var view = await world.Bureau.GetForPatientAsync(second.View.Referral.HospitalizationCode, second.AccessKey);
        var after = await world.Bureau.CallAsync(CityCardiology, world.Today, static (g, d) => Task.FromResult((g.Version, g.CalendarFrom(d), g.QueueLength)));
        Assert.Equal(2, world.Bureau.Grains.Activations);
        Assert.Equal((before.Version, before.QueueLength), (after.Version, after.QueueLength));
        Assert.Equal(before.Item2, after.Item2);
        Assert.Equal((ReferralStatus.Registered, 1), (view.Referral.Status, view.QueuePosition));
        Assert.Equal(ReferralStatus.Cancelled, (await world.Bureau.GetAsync(first.View.Referral.HospitalizationCode)).Referral.Status);

        // The sequence of codes continues; none is reused.
        var third = await world.RegisterAsync(CityCardiology, AdultIin(), world.Today.AddDays(1));
        Assert.EndsWith(".3", third.View.Referral.HospitalizationCode, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refresh_after_another_nodes_commit_drops_the_older_activation_and_updates_the_free_bed_index()
    {
        var storage = new InMemoryBedGrainStorage();
        await using var a = new TestWorld(storage);
        await using var b = new TestWorld(storage, a.Time);
        await a.OpenCalendarAsync(CityCardiology, 2);
        var registered = await a.RegisterAsync(CityCardiology, AdultIin(), a.Today.AddDays(1));
        var code = registered.View.Referral.HospitalizationCode;
        Assert.Equal(ReferralStatus.Registered, (await b.Bureau.GetAsync(code)).Referral.Status); // node B's activation
        var freeOnB = b.Bureau.FreeBeds.Search(new FreeBedQuery(Cardiology, null, a.Today, a.Today.AddDays(2), null, 10)).Single().FreeSlotsInRange;

        await a.Bureau.CancelAsync(code, Clinic, "c", CancellationReason.PatientRequest, "");
        var version = await a.Bureau.CallAsync(CityCardiology, 0, static (g, _) => Task.FromResult(g.Version));
        Assert.Equal(ReferralStatus.Registered, (await b.Bureau.GetAsync(code)).Referral.Status); // B has not heard

        await b.Bureau.RefreshAsync(CityCardiology, version);

        Assert.Equal(ReferralStatus.Cancelled, (await b.Bureau.GetAsync(code)).Referral.Status);
        Assert.Equal(freeOnB + 1, b.Bureau.FreeBeds.Search(new FreeBedQuery(Cardiology, null, a.Today, a.Today.AddDays(2), null, 10)).Single().FreeSlotsInRange);

        // Told of a version it has already, a node keeps its activation.
        var activations = b.Bureau.Grains.Activations;
        await b.Bureau.RefreshAsync(CityCardiology, version);
        Assert.Equal(activations, b.Bureau.Grains.Activations);
    }

    [Fact]
    public async Task A_repeated_request_after_reactivation_still_returns_the_first_result()
    {
        await using var world = new TestWorld(runtime: new GrainRuntimeOptions { IdleTimeout = TimeSpan.FromMinutes(10) });
        await world.OpenCalendarAsync(CityCardiology, 2);
        var iin = AdultIin();
        var first = await world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(1), requestId: "once");

        world.Time.Advance(TimeSpan.FromMinutes(16));
        await WaitUntil(() => world.Bureau.Grains.ActivationCount == 0);
        var again = await world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(1), requestId: "once");

        Assert.Equal((first.View.Referral.HospitalizationCode, first.AccessKey), (again.View.Referral.HospitalizationCode, again.AccessKey));
        Assert.Equal(1, await world.Bureau.CallAsync(CityCardiology, 0, static (g, _) => Task.FromResult(g.QueueLength)));
    }

    [Fact]
    public async Task Request_ids_other_than_registrations_are_forgotten_after_the_retention()
    {
        await using var world = new TestWorld(options: new BedGrainOptions { IdempotencyRetention = TimeSpan.FromDays(1) });
        await world.OpenCalendarAsync(CityCardiology, 2);
        var registration = await world.RegisterAsync(CityCardiology, AdultIin(), world.Today.AddDays(5), requestId: "reg");
        await world.Bureau.ReportBedsAsync(CityCardiology, City, "beds", new BedReport(10, 5, 5, 0, 0, null));

        world.Time.Advance(TimeSpan.FromDays(2));
        await world.Bureau.ReportBedsAsync(CityCardiology, City, "later", new BedReport(10, 6, 4, 0, 0, null)); // a commit: forgets what expired
        var reused = await world.Bureau.ReportBedsAsync(CityCardiology, City, "beds", new BedReport(10, 7, 3, 0, 0, null));
        var retried = await world.Bureau.RegisterAsync(CityCardiology, new RegisterReferral("reg", Clinic, "000000000000", "I20.8", world.Today.AddDays(5),
            TreatmentPurpose.Conservative, FinanceSource.GuaranteedVolume, "Almaty", "75"));

        Assert.Equal(3, reused.Free); // treated as a new report
        Assert.Equal(registration.View.Referral.HospitalizationCode, retried.View.Referral.HospitalizationCode); // still the first result
    }

    [Fact]
    public async Task An_idle_grain_forgets_request_ids_past_their_retention_without_waiting_for_a_commit()
    {
        await using var world = new TestWorld(
            runtime: new GrainRuntimeOptions { TrimAfter = TimeSpan.FromMinutes(10), IdleTimeout = TimeSpan.FromDays(30) },
            options: new BedGrainOptions { IdempotencyRetention = TimeSpan.FromDays(1) });
        await world.Bureau.ReportBedsAsync(CityCardiology, City, "beds", new BedReport(10, 5, 5, 0, 0, null));

        world.Time.Advance(TimeSpan.FromDays(2)); // the idle sweeps trim the grain; it stays active
        var reused = await world.Bureau.ReportBedsAsync(CityCardiology, City, "beds", new BedReport(10, 7, 3, 0, 0, null));

        Assert.Equal(3, reused.Free); // a new report, not the first one's answer
        Assert.Equal(1, world.Bureau.Grains.Activations);
    }
}
