using System.Net;
using System.Net.Sockets;

namespace BedBureau;

/// <summary>
/// Ports for the servers the tests start. Taken below Linux's ephemeral range (32768 and up):
/// a port the OS handed out as free can be taken by any outgoing connection's local end
/// before the server binds it, which once failed every test of a gateway fixture at once.
/// </summary>
public static class TestPorts
{
    private static readonly HashSet<int> Given = [];

    public static int Free()
    {
        while (true)
        {
            var port = 20_000 + Random.Shared.Next(12_000);
            lock (Given)
            {
                if (!Given.Add(port))
                {
                    continue;
                }
            }

            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken (by another test process, say): draw again.
            }
        }
    }
}
