using BedBureau.Contract.V1;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Sample;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Gateway.Tests.Storage;
using BedBureau.Wire.Client;
using Npgsql;

namespace BedBureau.Gateway.Tests.Concurrency;

/// <summary>
/// Two gateways sharing one PostgreSQL database (as behind a load balancer): node A seeds the
/// sample, node B starts on it and reads A's demo keys. The patient rule is the default there.
/// </summary>
public sealed class TwoNodes : IAsyncLifetime
{
    public string Database { get; private set; } = "";

    public GatewayFixture A { get; private set; } = null!;

    public GatewayFixture B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabases.CreatePostgresDatabaseAsync();
        A = new Node(Database);
        await A.InitializeAsync();
        B = new Node(Database) { DataDirectory = A.DataDirectory };
        await B.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await B.DisposeAsync();
        await A.DisposeAsync();
    }

    private sealed class Node(string database) : GatewayFixture
    {
        protected override Task<IEnumerable<string>> SettingsAsync() => Task.FromResult<IEnumerable<string>>(
        [
            "--Sample:Hospitals=8", "--Sample:Referrals=40", "--Sample:HospitalKeys=8",
            $"--ConnectionStrings:Postgres={database}", "--Security:PersonalDataSecret=two-nodes-test-secret",
        ]);
    }
}

[CollectionDefinition(Name)]
public sealed class TwoNodesCollection : ICollectionFixture<TwoNodes>
{
    public const string Name = "two gateways on one PostgreSQL";
}

/// <summary>One patient, one active referral per bed profile, whichever node registers it.</summary>
[Collection(TwoNodesCollection.Name)]
public sealed class TwoNodesPatientRuleTests(TwoNodes nodes)
{
    private static int _patients = 7_000;

    /// <summary>Two demo hospitals offering one profile, a day with room on each, and a new patient of the right age for it.</summary>
    private async Task<(string First, string Second, string Profile, string Iin, int InDays)> TargetAsync()
    {
        var hospitals = new List<(GatewayFixture.DemoKey Key, IReadOnlyCollection<string> Profiles)>();
        foreach (var key in nodes.A.Keys.Where(k => k.kind == "HOSPITAL"))
        {
            var info = await nodes.A.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = key.organization_id });
            hospitals.Add((key, info.Hospital.BedProfileCodes.ToArray()));
        }

        var (first, second, profile) = hospitals.SelectMany((h, i) => hospitals.Skip(i + 1).SelectMany(o => h.Profiles.Intersect(o.Profiles).Select(p => (h.Key, o.Key, p)))).First();
        var inDays = 2 + (Interlocked.Increment(ref _patients) % 20);
        await Scenario.OpenDayAsync(nodes.A, first, profile, inDays, 100);
        await Scenario.OpenDayAsync(nodes.B, second, profile, inDays, 100);
        var child = ReferenceCatalog.BedProfiles.Single(p => p.Code == profile).IsChild;
        var iin = NationalDataset.Iin(new Random(Interlocked.Increment(ref _patients) * 7919), nodes.A.Today, child);
        return (first.organization_id, second.organization_id, profile, iin, inDays);
    }

    /// <summary>A registration through <paramref name="node"/>, repeated with the same request id while the answer says to retry.</summary>
    private static async Task<(RegisterReferralResponse? Response, Wire.RpcException? Error)> RegisterAsync(GatewayFixture node, RegisterReferralRequest request)
    {
        using var polyclinic = node.ChannelFor(node.Polyclinic());
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return (await polyclinic.UnaryAsync(Api.Register, request), null);
            }
            catch (Wire.RpcException ex) when (ex.StatusCode == Wire.StatusCode.Aborted && attempt < 10)
            {
                // As a client backs off: the other node's registration is in flight.
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(500, 10 << attempt)));
            }
            catch (Wire.RpcException ex)
            {
                return (null, ex);
            }
        }
    }

    /// <summary>Active referrals of the patient for the profile, straight from the shared database.</summary>
    private async Task<long> ActiveReferralsAsync(string iin, string profile)
    {
        var patientKey = nodes.A.Service<BureauHost>().Protector.Hash(iin);
        await using var connection = new NpgsqlConnection(nodes.Database);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM referrals WHERE patient_key = $1 AND profile_code = $2 AND status IN (1, 2)", connection);
        count.Parameters.Add(new NpgsqlParameter { Value = patientKey });
        count.Parameters.Add(new NpgsqlParameter { Value = profile });
        return (long)(await count.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task A_patient_registered_through_one_node_is_refused_another_hospital_of_the_profile_through_the_other()
    {
        Assert.True(nodes.B.Service<BureauHost>().Bureau.IsPatientRuleDurable);
        var (first, second, profile, iin, inDays) = await TargetAsync();

        var (registered, error) = await RegisterAsync(nodes.A, Scenario.Registration(nodes.A, first, profile, iin, inDays));
        Assert.Null(error);
        var (refused, refusal) = await RegisterAsync(nodes.B, Scenario.Registration(nodes.B, second, profile, iin, inDays));

        Assert.Null(refused);
        Assert.Equal(Wire.StatusCode.AlreadyExists, refusal!.StatusCode);
        Assert.StartsWith("[ACTIVE_REFERRAL_EXISTS]", refusal.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(registered!.HospitalizationCode, refusal.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(1, await ActiveReferralsAsync(iin, profile));

        // Cancelled through node A, the referral no longer holds the patient on node B.
        using (var polyclinic = nodes.A.ChannelFor(nodes.A.Polyclinic()))
        {
            await polyclinic.UnaryAsync(Api.Cancel, new CancelReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = registered.HospitalizationCode, Reason = CancellationReason.PatientRequest });
        }

        var (again, againError) = await RegisterAsync(nodes.B, Scenario.Registration(nodes.B, second, profile, iin, inDays));
        Assert.Null(againError);
        Assert.Equal(ReferralStatus.Registered, again!.Referral.Status);
    }

    [Fact]
    public async Task Simultaneous_registrations_of_one_patient_through_two_nodes_leave_exactly_one_referral()
    {
        for (var round = 0; round < 8; round++)
        {
            var (first, second, profile, iin, inDays) = await TargetAsync();

            // Each node's client retries ABORTED (a conflict with the other node) with its request id.
            var outcomes = await Task.WhenAll(
                Task.Run(() => RegisterAsync(nodes.A, Scenario.Registration(nodes.A, first, profile, iin, inDays))),
                Task.Run(() => RegisterAsync(nodes.B, Scenario.Registration(nodes.B, second, profile, iin, inDays))));

            Assert.Single(outcomes, o => o.Response is not null);
            var loser = Assert.Single(outcomes, o => o.Response is null).Error!;

            // Refused as holding a referral, or, when it lost the race inside the bed grain, as superseded by it.
            Assert.True(
                (loser.StatusCode == Wire.StatusCode.AlreadyExists && loser.Status.Detail.StartsWith("[ACTIVE_REFERRAL_EXISTS]", StringComparison.Ordinal))
                || (loser.StatusCode == Wire.StatusCode.FailedPrecondition && loser.Status.Detail.StartsWith("[REGISTRATION_SUPERSEDED]", StringComparison.Ordinal)),
                $"round {round}: {loser.StatusCode} {loser.Status.Detail}");
            Assert.Equal(1, await ActiveReferralsAsync(iin, profile));
        }
    }
}
