using System.Text.Json;
using BedBureau.BedGrain.Domain;
using BedBureau.Gateway.Sample;
using BedBureau.Gateway.Security;
using Npgsql;

namespace BedBureau.StorageBench;

/// <summary>
/// Durable RegisterReferral inside the server: the bed grains on the gateway's storage (group
/// commit, synchronous_commit on), against the naive way on the same PostgreSQL in the same
/// run: one transaction per request, SELECT ... FOR UPDATE on the slot row, then insert.
/// </summary>
internal static class RegisterBench
{
    public static async Task RunAsync(Options options)
    {
        var clients = options.Clients > 0 ? options.Clients : 256;
        var today = WorkingDayCalendar.LocalDate(BenchStorage.Time.GetUtcNow());
        var sample = NationalDataset.Generate(2026, today, 1400, 0);
        var targets = sample.Hospitals.SelectMany(h => h.Profiles.Select(p => (Hospital: h.Id, p.ProfileCode, Child: sample.BedProfiles.Single(b => b.Code == p.ProfileCode).IsChild))).ToArray();
        await using var database = await BenchStorage.CreateAsync(options.Storage, options.Postgres);
        Console.WriteLine($"{options.Storage}: {string.Join(' ', options.Settings.Select(s => $"{s.Key}={s.Value}"))} {targets.Length:N0} grains of {sample.Hospitals.Count:N0} hospitals, {clients} concurrent clients, {options.Duration.TotalSeconds} s measured after 2 s warm-up");
        if (options.Storage == "postgres")
        {
            await using var connection = new NpgsqlConnection(database.Postgres);
            await connection.OpenAsync();
            await using var show = new NpgsqlCommand("SELECT current_setting('fsync') || ' / ' || current_setting('synchronous_commit')", connection);
            Console.WriteLine($"fsync / synchronous_commit: {await show.ExecuteScalarAsync()}");
        }

        await using (var storage = await database.OpenAsync(options.Settings))
        {
            var rule = BenchStorage.PatientRule(options.Settings, storage);
            Console.WriteLine($"patient rule: {rule.Name}");
            await using var bureau = BenchStorage.Bureau(BenchStorage.DirectoryOf(sample), storage.Grains, rule.Storage);
            await BenchStorage.SeedCalendarsAsync(bureau, sample, slots: 10_000);
            var polyclinic = new Actor("PC-75-001", ActorRole.Polyclinic);
            var refusals = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
            using var batches = new BatchListener();
            var cost = await ServerCost.StartAsync(database.Postgres);
            var calls = 0L;
            var (latencies, elapsed, failures) = await Latencies.RunAsync(clients, options.Duration, async (client, serial) =>
            {
                Interlocked.Increment(ref calls);
                var random = Random.Shared;
                var target = targets[random.Next(targets.Length)];
                try
                {
                    await bureau.RegisterAsync(new BedGrainKey(target.Hospital, target.ProfileCode), new RegisterReferral(
                        $"bench-{serial}", polyclinic, NationalDataset.Iin(random, today, target.Child), "K80.1", today.AddDays(1 + random.Next(28)),
                        TreatmentPurpose.Conservative, FinanceSource.GuaranteedVolume, "", "75"));
                    return true;
                }
                catch (DomainException ex)
                {
                    // Only the generated request itself should be refused (a patient drawn twice for
                    // one profile): say which.
                    refusals.AddOrUpdate(ex.Reason, 1, (_, n) => n + 1);
                    return false;
                }
            });
            Console.WriteLine(latencies.Report($"durable RegisterReferral ({options.Storage}, grains + group commit)", elapsed, failures));

            // Warm-up included: calls and costs are counted over the same span.
            Console.WriteLine(await cost.ReportAsync(Interlocked.Read(ref calls), elapsed + TimeSpan.FromSeconds(2)));
            Console.WriteLine(batches.Report());
            Console.WriteLine(refusals.IsEmpty ? "refused by the domain: none" : $"refused by the domain: {string.Join(", ", refusals.Select(r => $"{r.Key} x{r.Value}"))}");
        }

        if (options.Storage == "postgres" && options.Naive)
        {
            await NaiveAsync(database.Postgres!, targets, today, clients, options.Duration);
        }
    }

    private static async Task NaiveAsync(string connectionString, (string Hospital, string ProfileCode, bool Child)[] targets, DateOnly today, int clients, TimeSpan duration)
    {
        await using var source = NpgsqlDataSource.Create(connectionString);
        await using (var setup = source.CreateBatch())
        {
            setup.BatchCommands.Add(new("""
                CREATE TABLE IF NOT EXISTS naive_slots (hospital_id text, profile_code text, date date, slots int NOT NULL, reserved int NOT NULL,
                    PRIMARY KEY (hospital_id, profile_code, date))
                """));
            setup.BatchCommands.Add(new("""
                CREATE TABLE IF NOT EXISTS naive_referrals (code text PRIMARY KEY, hospital_id text NOT NULL, profile_code text NOT NULL, planned_date date NOT NULL,
                    patient_key text NOT NULL, status int NOT NULL, body jsonb NOT NULL, updated_at timestamptz NOT NULL)
                """));
            setup.BatchCommands.Add(new("TRUNCATE naive_slots, naive_referrals"));
            await setup.ExecuteNonQueryAsync();
        }

        await using (var connection = await source.OpenConnectionAsync())
        await using (var writer = await connection.BeginBinaryImportAsync("COPY naive_slots (hospital_id, profile_code, date, slots, reserved) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var (hospital, profile, _) in targets)
            {
                for (var d = 0; d < 30; d++)
                {
                    await writer.StartRowAsync();
                    await writer.WriteAsync(hospital);
                    await writer.WriteAsync(profile);
                    await writer.WriteAsync(today.AddDays(d));
                    await writer.WriteAsync(1_000_000);
                    await writer.WriteAsync(0);
                }
            }

            await writer.CompleteAsync();
        }

        var protector = new PersonalDataProtector("storage-bench-personal-data-secret");
        var cost = await ServerCost.StartAsync(connectionString);
        var calls = 0L;
        var (latencies, elapsed, failures) = await Latencies.RunAsync(clients, duration, async (client, serial) =>
        {
            Interlocked.Increment(ref calls);
            var random = Random.Shared;
            var target = targets[random.Next(targets.Length)];
            var date = today.AddDays(1 + random.Next(28));
            var iin = NationalDataset.Iin(random, today, target.Child);
            var code = $"N{serial:D12}";
            var body = JsonSerializer.Serialize(new
            {
                code,
                accessKeyHash = AccessKeys.Hash(AccessKeys.Generate()),
                patientKey = protector.Hash(iin),
                protectedIin = protector.Protect(iin),
                icd10 = "K80.1",
                planned = date,
                registeredAt = DateTimeOffset.UtcNow,
                history = new[] { new { action = "REGISTERED", at = DateTimeOffset.UtcNow, actor = "PC-75-001" } },
            });
            await using var connection = await source.OpenConnectionAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await using (var select = new NpgsqlCommand("SELECT slots, reserved FROM naive_slots WHERE hospital_id = $1 AND profile_code = $2 AND date = $3 FOR UPDATE", connection, transaction))
            {
                select.Parameters.Add(new() { Value = target.Hospital });
                select.Parameters.Add(new() { Value = target.ProfileCode });
                select.Parameters.Add(new() { Value = date });
                await using var reader = await select.ExecuteReaderAsync();
                if (!await reader.ReadAsync() || reader.GetInt32(1) >= reader.GetInt32(0))
                {
                    return false;
                }
            }

            await using (var insert = new NpgsqlCommand("""
                INSERT INTO naive_referrals (code, hospital_id, profile_code, planned_date, patient_key, status, body, updated_at)
                VALUES ($1, $2, $3, $4, $5, 1, CAST($6 AS jsonb), now())
                """, connection, transaction))
            {
                insert.Parameters.Add(new() { Value = code });
                insert.Parameters.Add(new() { Value = target.Hospital });
                insert.Parameters.Add(new() { Value = target.ProfileCode });
                insert.Parameters.Add(new() { Value = date });
                insert.Parameters.Add(new() { Value = protector.Hash(iin) });
                insert.Parameters.Add(new() { Value = body });
                await insert.ExecuteNonQueryAsync();
            }

            await using (var update = new NpgsqlCommand("UPDATE naive_slots SET reserved = reserved + 1 WHERE hospital_id = $1 AND profile_code = $2 AND date = $3", connection, transaction))
            {
                update.Parameters.Add(new() { Value = target.Hospital });
                update.Parameters.Add(new() { Value = target.ProfileCode });
                update.Parameters.Add(new() { Value = date });
                await update.ExecuteNonQueryAsync();
            }

            await transaction.CommitAsync();
            return true;
        });
        Console.WriteLine(latencies.Report("naive RegisterReferral (postgres, transaction per request, SELECT ... FOR UPDATE)", elapsed, failures));
        Console.WriteLine(await cost.ReportAsync(Interlocked.Read(ref calls), elapsed + TimeSpan.FromSeconds(2)));
    }
}
