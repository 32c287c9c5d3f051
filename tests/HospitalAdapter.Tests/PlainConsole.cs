using Spectre.Console;

namespace BedBureau.HospitalAdapter.Tests;

/// <summary>The adapter's console as the tests read it: plain text, no colours, no prompts, wide lines.</summary>
internal static class PlainConsole
{
    public static IAnsiConsole Writing(TextWriter output)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 400;
        return console;
    }
}
