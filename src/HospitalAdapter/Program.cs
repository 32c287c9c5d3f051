using BedBureau.HospitalAdapter;
using Spectre.Console;

return await AdapterCli.RunAsync(args, AnsiConsole.Console, Console.Out, Environment.GetEnvironmentVariable, TimeProvider.System, CancellationToken.None);
