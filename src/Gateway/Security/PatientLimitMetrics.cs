using System.Diagnostics.Metrics;

namespace BedBureau.Gateway.Security;

/// <summary>Patients' failed lookups and the penalties past the national budget, observed from the limiter's counters.</summary>
public sealed class PatientLimitMetrics
{
    public const string MeterName = "BedBureau.Patients";

    public PatientLimitMetrics(IMeterFactory meterFactory, PatientRateLimiter limiter)
    {
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableCounter("bedbureau.patients.lookup_failures", () => limiter.Failures, "{lookup}",
            "Patients' lookups and cancellations that named an unknown code or the wrong access key.");
        meter.CreateObservableCounter("bedbureau.patients.penalties", () => limiter.Penalties, "{lookup}",
            "Failed lookups past the national budget (Patients:FailedLookupsPerSecond): each made its address wait Patients:FailedLookupPenalty.");
    }
}
