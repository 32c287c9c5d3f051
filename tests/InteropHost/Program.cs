using BedBureau.GrpcServer;
using BedBureau.InteropHost;
using BedBureau.InteropHost.Testing;
using Google.Protobuf;
using Microsoft.AspNetCore.Server.Kestrel.Core;

// grpc.testing.TestService on our gRPC server, for the interop cases:
//   dotnet run --project tests/InteropHost -- --port 50052
// With --bench, also the baseline of bench/h2load/run.sh (see InteropServer.MapBenchEndpoints).
var port = InteropServer.PortFrom(args);
await using var app = InteropServer.Create(port, bench: args.Contains("--bench"));
await app.RunAsync();

namespace BedBureau.InteropHost
{
    public static class InteropServer
    {
        /// <summary>The payload size of the unary echo that bench/h2load/run.sh sends and expects.</summary>
        public const int BenchPayloadSize = 64;

        public static int PortFrom(string[] args)
        {
            var index = Array.IndexOf(args, "--port");
            return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], System.Globalization.CultureInfo.InvariantCulture) : 50052;
        }

        /// <summary>A server on 127.0.0.1:<paramref name="port"/> (h2c); 0 picks a free port.</summary>
        public static WebApplication Create(int port, bool bench = false)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2));
            builder.Services.AddGrpcServer();
            var app = builder.Build();
            app.MapGrpcService<TestService>(TestReflection.Descriptor.FindTypeByName<Google.Protobuf.Reflection.ServiceDescriptor>("TestService"));
            if (bench)
            {
                MapBenchEndpoints(app);
            }

            app.MapGrpcUnimplemented();
            return app;
        }

        /// <summary>
        /// The load test's baseline: plain Kestrel HTTP/2 that reads the request body and answers
        /// with the very bytes UnaryCall answers a request for <see cref="BenchPayloadSize"/> bytes
        /// (content-type, one framed SimpleResponse, grpc-status trailer), without our gRPC layer;
        /// and the process's allocated bytes, to measure allocation per call under load.
        /// </summary>
        private static void MapBenchEndpoints(WebApplication app)
        {
            var response = new byte[5 + new SimpleResponse { Payload = new Payload { Body = ByteString.CopyFrom(new byte[BenchPayloadSize]) } }.CalculateSize()];
            new SimpleResponse { Payload = new Payload { Body = ByteString.CopyFrom(new byte[BenchPayloadSize]) } }.WriteTo(response.AsSpan(5));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(response.AsSpan(1), (uint)(response.Length - 5));

            app.MapPost("/plain/UnaryCall", async context =>
            {
                var body = context.Request.BodyReader;
                while (true)
                {
                    var read = await body.ReadAsync();
                    body.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted)
                    {
                        break;
                    }
                }

                context.Response.ContentType = "application/grpc";
                await context.Response.BodyWriter.WriteAsync(response);
                context.Response.AppendTrailer("grpc-status", "0");
            });
            app.MapGet("/bench/allocated", () => GC.GetTotalAllocatedBytes(precise: true).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
