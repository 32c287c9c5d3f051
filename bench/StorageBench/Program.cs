using BedBureau.StorageBench;

// Storage and cache figures (see bench/README.md, "Storage and cache"):
//   register --storage postgres|sqlite [--naive] [--seconds 10] [--clients 256] [--set Bureau:PatientRule=Durable|Process]
//   report --storage postgres|sqlite [--seconds 10] [--clients 256]
//   recovery --storage postgres|sqlite [--referrals 300000] [--database NAME]
//   lookup [--redis host:port] [--seconds 5] [--clients 16]
// PostgreSQL: --postgres "<admin connection string>" or BEDBUREAU_TEST_POSTGRES.
var options = Options.Parse(args);
switch (options.Mode)
{
    case "register":
        await RegisterBench.RunAsync(options);
        break;
    case "report":
        await ReportBench.RunAsync(options);
        break;
    case "recovery":
        await RecoveryBench.RunAsync(options);
        break;
    case "lookup":
        await LookupBench.RunAsync(options);
        break;
    default:
        Console.Error.WriteLine("usage: StorageBench register|report|recovery|lookup [--storage postgres|sqlite] [--naive] [--seconds N] [--clients N] [--referrals N] [--redis host:port] [--postgres conn]");
        return 2;
}

return 0;

namespace BedBureau.StorageBench
{
    internal sealed record Options(string Mode, string Storage, bool Naive, TimeSpan Duration, int Clients, int Referrals, string? Redis, string? Postgres, string? Database)
    {
        /// <summary>Gateway settings for the storage, e.g. --set Storage:Writers=4 (repeatable).</summary>
        public Dictionary<string, string?> Settings { get; init; } = [];

        public static Options Parse(string[] args)
        {
            string? Value(string name, string? fallback = null)
            {
                var index = Array.IndexOf(args, name);
                return index >= 0 && index + 1 < args.Length ? args[index + 1] : fallback;
            }

            return new Options(
                args.FirstOrDefault() ?? "",
                Value("--storage", "sqlite")!,
                args.Contains("--naive"),
                TimeSpan.FromSeconds(double.Parse(Value("--seconds", "10")!, System.Globalization.CultureInfo.InvariantCulture)),
                int.Parse(Value("--clients", "0")!, System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(Value("--referrals", "300000")!, System.Globalization.CultureInfo.InvariantCulture),
                Value("--redis", Environment.GetEnvironmentVariable("BEDBUREAU_TEST_REDIS")),
                Value("--postgres", Environment.GetEnvironmentVariable("BEDBUREAU_TEST_POSTGRES")),
                Value("--database"))
            {
                Settings = args.Select((a, i) => (a, i)).Where(x => x.a == "--set" && x.i + 1 < args.Length)
                    .Select(x => args[x.i + 1].Split('=', 2)).ToDictionary(kv => kv[0], kv => (string?)kv[1]),
            };
        }
    }
}
