using System.Collections.Concurrent;
using System.Net;
using BedBureau.InteropHost;
using BedBureau.InteropHost.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace BedBureau.GrpcServer.Tests.Fuzz;

/// <summary>
/// grpc.testing.TestService on real Kestrel (h2c, default limits, 4 MB receive limit), with
/// every log line at Error or above kept: a handler exception there is a bug the fuzzer found.
/// </summary>
internal sealed class FuzzHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FuzzHost(WebApplication app, ErrorLog errors, int port)
    {
        _app = app;
        Errors = errors;
        Port = port;
    }

    public int Port { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    public ErrorLog Errors { get; }

    public static async Task<FuzzHost> StartAsync()
    {
        var errors = new ErrorLog();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.Logging.AddProvider(errors);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpcServer();
        var app = builder.Build();
        app.MapGrpcService<TestService>(TestReflection.Descriptor.FindTypeByName<ServiceDescriptor>("TestService"));
        app.MapGrpcUnimplemented();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new FuzzHost(app, errors, new Uri(address).Port);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    internal sealed class ErrorLog : ILoggerProvider
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(ErrorLog log, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                // Kestrel aborting a raw flood connection that does not read its answers is its
                // flood protection doing its work (as ENHANCE_YOUR_CALM), not a server error.
                if (IsEnabled(logLevel) && log.Lines.Count < 50 && exception is not ConnectionAbortedException { Message: "HTTP/2 connection exceeded the output operations maximum queue size." })
                {
                    log.Lines.Enqueue($"{category}: {formatter(state, exception)} {exception}");
                }
            }
        }
    }
}
