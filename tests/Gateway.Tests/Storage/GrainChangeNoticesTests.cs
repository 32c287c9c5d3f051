using System.Text;
using BedBureau.Gateway.Storage;

namespace BedBureau.Gateway.Tests.Storage;

public sealed class GrainChangeNoticesTests
{
    [Fact]
    public void A_large_batch_is_told_in_payloads_under_postgresqls_limit_and_reads_back_whole_and_in_order()
    {
        var notices = Enumerable.Range(0, 600).Select(i => new GrainChangeNotice($"H{i:D3}", "101", i + 1,
            Enumerable.Range(0, i % 7).Select(c => $"75.H{i:D3}.101.{c}").ToArray())).ToArray();

        var payloads = GrainChangeNotices.Payloads("node1", notices).ToArray();

        Assert.True(payloads.Length > 1);
        Assert.All(payloads, p => Assert.InRange(Encoding.UTF8.GetByteCount(p), 1, 7_999));
        var read = payloads.Select(p => GrainChangeNotices.Parse(p)!.Value).ToArray();
        Assert.All(read, r => Assert.Equal("node1", r.Node));
        Assert.Equal(
            notices.Select(n => (n.HospitalId, n.ProfileCode, n.Version, string.Join(',', n.Codes))),
            read.SelectMany(r => r.Notices).Select(n => (n.HospitalId, n.ProfileCode, n.Version, string.Join(',', n.Codes))));
    }

    [Theory]
    [InlineData("")]
    [InlineData("no tab at all")]
    [InlineData("node\tnot json")]
    [InlineData("node\t[{\"HospitalId\":\"H1\"}]")]
    public void A_payload_that_is_not_one_of_ours_reads_as_nothing(string payload) =>
        Assert.Null(GrainChangeNotices.Parse(payload));
}
