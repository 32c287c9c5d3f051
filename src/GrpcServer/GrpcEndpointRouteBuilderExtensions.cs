using BedBureau.GrpcServer.Internal;
using BedBureau.Wire;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace BedBureau.GrpcServer;

/// <summary>The protobuf method an endpoint serves, for middleware (authentication, audit).</summary>
public sealed record GrpcMethodMetadata(MethodDescriptor Method);

public static class GrpcEndpointRouteBuilderExtensions
{
    public static IServiceCollection AddGrpcServer(this IServiceCollection services, Action<GrpcServerOptions>? configure = null)
    {
        services.AddMetrics();
        services.AddSingleton<GrpcServerMetrics>();
        var options = services.AddOptions<GrpcServerOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        return services;
    }

    /// <summary>
    /// Routes every method of <paramref name="service"/>'s descriptor to the method of the same
    /// name on <typeparamref name="TService"/> (one instance, from DI or created).
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcService<TService>(this IEndpointRouteBuilder endpoints, ServiceDescriptor service)
        where TService : class
    {
        var implementation = ActivatorUtilities.GetServiceOrCreateInstance<TService>(endpoints.ServiceProvider);
        var handlerServices = HandlerServices(endpoints.ServiceProvider);
        var builders = new List<IEndpointConventionBuilder>();
        foreach (var method in service.Methods)
        {
            var handler = ServiceBinder.Bind(implementation, method, handlerServices);
            builders.Add(endpoints.MapPost($"/{service.FullName}/{method.Name}", handler.HandleAsync)
                .WithMetadata(new GrpcMethodMetadata(method))
                .WithDisplayName($"gRPC {service.FullName}/{method.Name}"));
        }

        return new CompositeConventionBuilder(builders);
    }

    /// <summary>Answers UNIMPLEMENTED to gRPC requests for services and methods not mapped.</summary>
    /// <remarks>
    /// Every path, also those that look like file names ("/a.b/C.d"): the default fallback
    /// pattern leaves those out, and they would get a bare HTTP 404.
    /// </remarks>
    public static IEndpointConventionBuilder MapGrpcUnimplemented(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapFallback("{**path}", context =>
        {
            if (!GrpcProtocol.IsGrpcContentType(context.Request.ContentType))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            CallHandler.WriteTrailersOnly(context.Response, new Status(StatusCode.Unimplemented, $"Service or method {context.Request.Path} is unknown."), null);
            return Task.CompletedTask;
        });

    private static CallHandlerServices HandlerServices(IServiceProvider provider) => new(
        provider.GetRequiredService<IOptions<GrpcServerOptions>>().Value,
        provider.GetRequiredService<ILoggerFactory>().CreateLogger("BedBureau.GrpcServer"),
        provider.GetRequiredService<GrpcServerMetrics>(),
        provider.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);

    private sealed class CompositeConventionBuilder(List<IEndpointConventionBuilder> builders) : IEndpointConventionBuilder
    {
        public void Add(Action<EndpointBuilder> convention)
        {
            foreach (var builder in builders)
            {
                builder.Add(convention);
            }
        }
    }
}
