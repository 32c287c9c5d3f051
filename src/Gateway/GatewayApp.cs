using BedBureau.Contract.Health.V1;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Grpc;
using BedBureau.GrpcServer;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace BedBureau.Gateway;

/// <summary>Composes the gateway: its services, its gRPC and HTTP endpoints.</summary>
public static class GatewayApp
{
    /// <summary>The services of the public contract, by their descriptors.</summary>
    public static IReadOnlyList<ServiceDescriptor> ContractServices { get; } =
    [
        HospitalReflection.Descriptor.Services[0],
        ReferralReflection.Descriptor.Services[0],
        PatientReflection.Descriptor.Services[0],
        DirectoryReflection.Descriptor.Services[0],
        AuditReflection.Descriptor.Services[0],
    ];

    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddGrpcServer(options => builder.Configuration.GetSection("Grpc").Bind(options));
        builder.Services.AddSingleton(new ServingStatus(ContractServices.Select(s => s.FullName)));

        var app = builder.Build();
        app.MapGrpcService<HospitalService>(ContractServices[0]);
        app.MapGrpcService<ReferralService>(ContractServices[1]);
        app.MapGrpcService<PatientService>(ContractServices[2]);
        app.MapGrpcService<DirectoryService>(ContractServices[3]);
        app.MapGrpcService<AuditService>(ContractServices[4]);
        app.MapGrpcService<HealthService>(HealthReflection.Descriptor.Services[0]);
        app.MapGrpcUnimplemented();
        return app;
    }
}
