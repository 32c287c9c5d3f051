using System.Diagnostics.Metrics;
using BedBureau.Contract.Health.V1;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Grpc;
using BedBureau.Gateway.Security;
using BedBureau.Gateway.Storage;
using BedBureau.GrpcServer;
using Microsoft.Extensions.DependencyInjection.Extensions;
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

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // Settings ship beside the binary; the data directory stays relative to the working directory.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        ClientCertificates.Configure(builder);

        // Kestrel reads its endpoints from configuration but not its limits (stream limits,
        // windows, keep-alive pings): bound here so appsettings.json and overrides apply.
        builder.WebHost.ConfigureKestrel(kestrel => builder.Configuration.GetSection("Kestrel:Limits").Bind(kestrel.Limits));
        var services = builder.Services;
        services.AddGrpcServer(options =>
        {
            builder.Configuration.GetSection("Grpc").Bind(options);
            options.MapException = ErrorMapping.Map;
        });
        services.TryAddSingleton(TimeProvider.System);
        if (DrillClock.AheadOf(builder.Configuration) is { } ahead)
        {
            var machine = (TimeProvider)services.Last(s => s.ServiceType == typeof(TimeProvider)).ImplementationInstance!;
            services.AddSingleton<TimeProvider>(new DrillClock(machine, ahead));
        }

        services.AddSingleton(new ServingStatus(ContractServices.Select(s => s.FullName)));
        services.AddSingleton<StorageMetrics>();
        services.AddSingleton(sp =>
        {
            var host = sp.GetRequiredService<BureauHost>();
            return new BedGrain.BureauMetrics(sp.GetRequiredService<IMeterFactory>(), () => host.BureauIfStarted);
        });
        services.AddSingleton<Cache.CacheMetrics>();
        services.AddSingleton<Metrics.PrometheusExporter>();
        if (Metrics.OtlpExport.IsConfigured(builder.Configuration))
        {
            // Made by the container, so that disposing the application flushes and stops it.
            services.AddSingleton(_ => Metrics.OtlpExport.Build(builder.Configuration));
        }
        services.AddSingleton(new ReferralEventHub(builder.Configuration.GetValue("Watch:BufferedEvents", ReferralEventHub.DefaultWatcherCapacity)));
        services.AddSingleton(sp => new Cache.LookupCache(Cache.CacheOptions.From(builder.Configuration), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<BureauHost>();
        services.AddSingleton<IOrganizationStore, BureauOrganizations>();
        services.AddSingleton<Authenticator>();
        services.AddSingleton<CallerResolver>();
        services.AddSingleton<AuditTrail>();
        services.AddSingleton<HospitalService>();
        services.AddSingleton<ReferralService>();
        services.AddSingleton<PatientService>();
        services.AddSingleton<DirectoryService>();
        services.AddSingleton<AuditService>();
        services.AddSingleton<HealthService>();
        services.AddSingleton(sp => new PatientRateLimiter(sp.GetRequiredService<TimeProvider>(),
            builder.Configuration.GetValue("Patients:LookupsPerSecond", 1.0), builder.Configuration.GetValue("Patients:LookupBurst", 30),
            failuresPerSecond: builder.Configuration.GetValue("Patients:FailedLookupsPerSecond", 10.0),
            failureBurst: builder.Configuration.GetValue("Patients:FailedLookupBurst", 600),
            failurePenalty: builder.Configuration.GetValue("Patients:FailedLookupPenalty", PatientRateLimiter.DefaultFailurePenalty)));
        services.AddSingleton<PatientLimitMetrics>();
        services.AddHostedService<StorageHealthMonitor>();
        services.AddHostedService<NodeCoherence>();

        var app = builder.Build();

        // Observable instruments exist once their owners are built: before the first scrape.
        app.Services.GetRequiredService<BedGrain.BureauMetrics>();
        app.Services.GetRequiredService<Cache.CacheMetrics>();
        app.Services.GetRequiredService<PatientLimitMetrics>();
        app.Services.GetService<OpenTelemetry.Metrics.MeterProvider>();

        // The web page (wwwroot beside the binary): before routing, so the gRPC fallback never sees it.
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.UseRouting();
        var audit = app.Services.GetRequiredService<AuditTrail>();
        app.Use((context, next) => audit.InvokeAsync(context, next));
        app.MapGrpcService<HospitalService>(ContractServices[0]);
        app.MapGrpcService<ReferralService>(ContractServices[1]);
        app.MapGrpcService<PatientService>(ContractServices[2]);
        app.MapGrpcService<DirectoryService>(ContractServices[3]);
        app.MapGrpcService<AuditService>(ContractServices[4]);
        app.MapGrpcService<HealthService>(HealthReflection.Descriptor.Services[0]);
        Http.JsonApi.Map(app);
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/metrics", (Metrics.PrometheusExporter exporter) => Results.Text(exporter.Collect(), Metrics.PrometheusExporter.ContentType));
        app.MapGet("/readyz", (ServingStatus status) => status.IsServing ? Results.Text("ready") : Results.Text("storage unreachable", statusCode: 503));
        app.MapGrpcUnimplemented();
        return app;
    }

    /// <summary>Tells whoever started the service where it listens, where its data and the demo keys are.</summary>
    public static void PrintWhereToFind(WebApplication app, TextWriter output)
    {
        var host = app.Services.GetRequiredService<BureauHost>();
        var configuration = app.Configuration;
        if (string.Equals(configuration["Logging:Console:FormatterName"], "json", StringComparison.OrdinalIgnoreCase))
        {
            // Every line of a JSON log is JSON: the listening addresses and the seeding are logged.
            return;
        }

        output.WriteLine($"BedBureau gateway on {host.Storage.Description}");
        output.WriteLine($"  gRPC (h2c):       {configuration["Kestrel:Endpoints:Grpc:Url"]}");
        output.WriteLine($"  HTTP/1.1 and web: {configuration["Kestrel:Endpoints:Http:Url"]}");
        output.WriteLine($"  data directory:   {host.DataDirectory}");
        output.WriteLine(File.Exists(host.DemoKeysFile)
            ? $"  demo API keys:    {host.DemoKeysFile}"
            : "  demo API keys:    none (no sample was seeded); create keys with: dotnet run --project src/Gateway -- admin key issue --org <id>");
    }

    /// <summary>Migrates, loads and (on an empty embedded database) seeds, before the ports open.</summary>
    public static Task InitializeAsync(WebApplication app, CancellationToken cancellationToken = default) =>
        app.Services.GetRequiredService<BureauHost>().StartAsync(cancellationToken);
}
