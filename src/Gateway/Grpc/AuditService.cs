namespace BedBureau.Gateway.Grpc;

/// <summary>
/// bedbureau.v1.AuditService: the audit trail for the ministry. Its method is not written yet,
/// so it answers UNIMPLEMENTED; every change is already recorded as a referral event.
/// </summary>
internal sealed class AuditService;
