using System.Diagnostics.Metrics;
using BedBureau.BedGrain.Runtime;

namespace BedBureau.BedGrain;

/// <summary>
/// The grain runtime and the free-bed index as metrics: activations, mailbox depth, overload
/// rejections, and how many bed counts are stale. Observed at collection time from counters the
/// runtime keeps anyway, so the call path pays nothing for them.
/// </summary>
public sealed class BureauMetrics
{
    public const string MeterName = "BedBureau.Grains";

    private const string GrainType = "bedbureau.grain.type";

    /// <param name="bureau">The bureau once it is up; null while the host is starting (nothing is observed then).</param>
    public BureauMetrics(IMeterFactory meterFactory, Func<Bureau?> bureau)
    {
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableUpDownCounter("bedbureau.grain.active", () => Observe(bureau(), static r => r.ActivationCount),
            "{activation}", "Grain activations in memory.");
        meter.CreateObservableCounter("bedbureau.grain.activations", () => Observe(bureau(), static r => r.Activations),
            "{activation}", "Grains activated (state loaded from storage).");
        meter.CreateObservableCounter("bedbureau.grain.deactivations", () => Observe(bureau(), static r => r.Deactivations),
            "{activation}", "Activations dropped: idle, or stale after another activation committed.");
        meter.CreateObservableCounter("bedbureau.grain.trims", () => Observe(bureau(), static r => r.Trims),
            "{activation}", "Idle activations that let go of state they load again when needed (a bed grain's referrals), staying active.");
        meter.CreateObservableGauge("bedbureau.grain.mailbox.depth", () => Observe(bureau(), static r => r.MailboxDepth().Total),
            "{call}", "Calls waiting behind a running turn, in all grains.");
        meter.CreateObservableGauge("bedbureau.grain.mailbox.deepest", () => Observe(bureau(), static r => r.MailboxDepth().Deepest),
            "{call}", "Calls waiting in the fullest mailbox; at Bureau:MailboxBound new calls are refused.");
        meter.CreateObservableCounter("bedbureau.grain.overload_rejections", () => Observe(bureau(), static r => r.OverloadRejections),
            "{call}", "Calls refused (RESOURCE_EXHAUSTED) because the grain's mailbox was full.");
        meter.CreateObservableGauge("bedbureau.beds.counts", () => Freshness(bureau()),
            "{count}", "Bed counts of (hospital, profile) pairs by freshness: fresh, stale (older than Bureau:StaleAfterHours) or unreported.");
    }

    private static IEnumerable<Measurement<long>> Observe(Bureau? bureau, Func<IGrainRuntimeStatistics, long> value)
    {
        if (bureau is null)
        {
            return [];
        }

        var measurements = new List<Measurement<long>>(2) { new(value(bureau.Grains), new KeyValuePair<string, object?>(GrainType, "bed_profile")) };
        if (bureau.Patients is { } patients)
        {
            measurements.Add(new(value(patients), new KeyValuePair<string, object?>(GrainType, "patient")));
        }

        return measurements;
    }

    private static IEnumerable<Measurement<int>> Freshness(Bureau? bureau)
    {
        if (bureau is null)
        {
            return [];
        }

        var (fresh, stale, unreported) = bureau.FreeBeds.CensusFreshness();
        return
        [
            new(fresh, new KeyValuePair<string, object?>("bedbureau.freshness", "fresh")),
            new(stale, new KeyValuePair<string, object?>("bedbureau.freshness", "stale")),
            new(unreported, new KeyValuePair<string, object?>("bedbureau.freshness", "unreported")),
        ];
    }
}
