namespace BedBureau.Gateway.Grpc;

// The v1 services, routed from their descriptors. A method not written here yet answers
// UNIMPLEMENTED; each class gains its methods as its issue lands.

/// <summary>bedbureau.v1.HospitalService: a hospital information system, for its own hospital.</summary>
internal sealed class HospitalService;

/// <summary>bedbureau.v1.ReferralService: a polyclinic finds beds and refers patients.</summary>
internal sealed class ReferralService;

/// <summary>bedbureau.v1.PatientService: a patient's status by code and access key.</summary>
internal sealed class PatientService;

/// <summary>bedbureau.v1.DirectoryService: regions, bed profiles, hospitals.</summary>
internal sealed class DirectoryService;

/// <summary>bedbureau.v1.AuditService: the audit trail, for the ministry.</summary>
internal sealed class AuditService;
