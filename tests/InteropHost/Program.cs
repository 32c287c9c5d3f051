using BedBureau.GrpcServer;
using BedBureau.InteropHost;
using BedBureau.InteropHost.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Core;

// grpc.testing.TestService on our gRPC server, for the interop cases:
//   dotnet run --project tests/InteropHost -- --port 50052
var port = InteropServer.PortFrom(args);
await using var app = InteropServer.Create(port);
await app.RunAsync();

namespace BedBureau.InteropHost
{
    public static class InteropServer
    {
        public static int PortFrom(string[] args)
        {
            var index = Array.IndexOf(args, "--port");
            return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], System.Globalization.CultureInfo.InvariantCulture) : 50052;
        }

        /// <summary>A server on 127.0.0.1:<paramref name="port"/> (h2c); 0 picks a free port.</summary>
        public static WebApplication Create(int port)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2));
            builder.Services.AddGrpcServer();
            var app = builder.Build();
            app.MapGrpcService<TestService>(TestReflection.Descriptor.FindTypeByName<Google.Protobuf.Reflection.ServiceDescriptor>("TestService"));
            app.MapGrpcUnimplemented();
            return app;
        }
    }
}
