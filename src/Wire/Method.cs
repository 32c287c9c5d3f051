using System.Reflection;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace BedBureau.Wire;

/// <summary>A method of a service as a client calls it: its path and message types.</summary>
public sealed class Method<TRequest, TResponse>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private Method(string fullName, MethodDescriptor? descriptor)
    {
        FullName = fullName;
        Descriptor = descriptor;
    }

    /// <summary>"/package.Service/Method".</summary>
    public string FullName { get; }

    public MethodDescriptor? Descriptor { get; }

    /// <summary>The method named <paramref name="name"/> of a service descriptor, its types checked.</summary>
    public static Method<TRequest, TResponse> Of(ServiceDescriptor service, string name)
    {
        var method = service.FindMethodByName(name) ?? throw new ArgumentException($"{service.FullName} has no method {name}.", nameof(name));
        if (method.InputType.ClrType != typeof(TRequest) || method.OutputType.ClrType != typeof(TResponse))
        {
            throw new ArgumentException($"{service.FullName}/{name} takes {method.InputType.Name} and returns {method.OutputType.Name}.", nameof(name));
        }

        return new Method<TRequest, TResponse>($"/{service.FullName}/{name}", method);
    }

    /// <summary>A method by path alone, e.g. one the server does not know (for tests).</summary>
    public static Method<TRequest, TResponse> ByPath(string fullName) => new(fullName, null);

    public override string ToString() => FullName;
}

/// <summary>The generated parser of a message type, found once.</summary>
public static class MessageParsers<T>
    where T : class, IMessage<T>
{
    public static MessageParser<T> Parser { get; } =
        (MessageParser<T>)typeof(T).GetProperty("Parser", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;
}
