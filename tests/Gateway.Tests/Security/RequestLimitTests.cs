using System.Net;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Wire;
using BedBureau.Wire.Client;

namespace BedBureau.Gateway.Tests.Security;

/// <summary>
/// A request larger than the gateway's receive limit (Grpc:MaxReceiveMessageSize, 4 MB) is
/// refused from its length prefix, before the body is read, and the refusal is audited like any
/// other; the gRPC layer's own test (RawFrameErrorPathTests) proves the same on a bare server.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class RequestLimitTests(GatewayFixture gateway)
{
    [Fact]
    public async Task A_registration_declaring_100_MB_is_resource_exhausted_before_its_body_is_sent()
    {
        var refusedBefore = await RefusedForSizeAsync();
        using var http = new HttpClient(new SocketsHttpHandler());
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{gateway.GrpcAddress}/bedbureau.v1.ReferralService/RegisterReferral")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,

            // Only the 5-byte prefix is sent, declaring 100 MB; the body never comes, so an answer
            // proves the gateway judged the prefix alone.
            Content = new PrefixOnlyContent(100 * 1024 * 1024),
        };
        request.Content.Headers.ContentType = new("application/grpc");
        request.Headers.TryAddWithoutValidation("authorization", $"Bearer {gateway.Polyclinic(0).key}");
        request.Headers.TryAddWithoutValidation("te", "trailers");

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(10));
        var status = response.Headers.TryGetValues("grpc-status", out var values) ? values.Single() : null;
        if (status is null)
        {
            await response.Content.ReadAsByteArrayAsync().WaitAsync(TimeSpan.FromSeconds(10));
            status = response.TrailingHeaders.GetValues("grpc-status").Single();
        }

        Assert.Equal(((int)StatusCode.ResourceExhausted).ToString(System.Globalization.CultureInfo.InvariantCulture), status);

        // Audited as refused (before the message is read the caller is not yet known).
        Assert.Equal(refusedBefore + 1, await RefusedForSizeAsync());
    }

    private async Task<int> RefusedForSizeAsync()
    {
        using var admin = gateway.ChannelFor(gateway.Admin);
        var (count, token) = (0, "");
        do
        {
            var page = await admin.UnaryAsync(Api.ListAudit, new Contract.V1.ListAuditRecordsRequest { Action = "bedbureau.v1.ReferralService/RegisterReferral", PageSize = 1000, PageToken = token });
            count += page.Records.Count(r => r.Outcome == "RESOURCE_EXHAUSTED");
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        return count;
    }

    private sealed class PrefixOnlyContent(int declaredLength) : HttpContent
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            var prefix = new byte[5];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(prefix.AsSpan(1), declaredLength);
            await stream.WriteAsync(prefix, cancellationToken);
            await stream.FlushAsync(cancellationToken);
            await _done.Task.WaitAsync(cancellationToken);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            _done.TrySetResult();
            base.Dispose(disposing);
        }
    }
}
