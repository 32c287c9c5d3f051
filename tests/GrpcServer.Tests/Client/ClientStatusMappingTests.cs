using BedBureau.GrpcServer.Tests.Infrastructure;
using BedBureau.GrpcServer.Tests.Server;
using BedBureau.InteropHost.Testing;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace BedBureau.GrpcServer.Tests.Client;

/// <summary>How our client turns what real Kestrel sends into statuses (http-grpc-status-mapping.md).</summary>
public sealed class ClientStatusMappingTests(ProbeHostFixture fixture) : IClassFixture<ProbeHostFixture>, IDisposable
{
    private static readonly Method<SimpleRequest, SimpleResponse> UnaryCall =
        Method<SimpleRequest, SimpleResponse>.Of(TestReflection.Descriptor.FindTypeByName<ServiceDescriptor>("TestService"), "UnaryCall");

    private readonly GrpcChannel _channel = GrpcChannel.ForAddress(fixture.Host.Address.ToString());

    [Theory]
    [InlineData(0x2, StatusCode.Internal)]            // INTERNAL_ERROR
    [InlineData(0x8, StatusCode.Cancelled)]           // CANCEL
    [InlineData(0xb, StatusCode.ResourceExhausted)]   // ENHANCE_YOUR_CALM
    public async Task Stream_reset_by_the_server_maps_to_its_status(int errorCode, StatusCode expected)
    {
        var options = CallOptions.WithTimeout(TimeSpan.FromSeconds(10), new Metadata { { "x-probe", $"reset:{errorCode}" } });

        var error = await Assert.ThrowsAsync<RpcException>(() => _channel.UnaryAsync(UnaryCall, new SimpleRequest(), options));

        Assert.True(error.StatusCode == expected, error.Status.ToString());
    }

    [Fact]
    public async Task Caller_cancellation_is_cancelled_not_deadline_exceeded()
    {
        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var options = new CallOptions(new Metadata { { "x-probe", "wait-for-cancel" } }, DateTime.UtcNow.AddSeconds(30), cancellation.Token);

        var error = await Assert.ThrowsAsync<RpcException>(() => _channel.UnaryAsync(UnaryCall, new SimpleRequest(), options));

        Assert.True(error.StatusCode == StatusCode.Cancelled, error.Status.ToString());
    }

    [Fact]
    public async Task Unknown_method_is_unimplemented_for_the_client_too()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => _channel.UnaryAsync(Method<SimpleRequest, SimpleResponse>.ByPath("/grpc.testing.TestService/Nope"), new SimpleRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(10))));

        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
    }

    public void Dispose() => _channel.Dispose();
}
