using System.Reflection;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace BedBureau.GrpcServer.Internal;

/// <summary>
/// Binds a service's protobuf methods to the service class's methods of the same name, by
/// the streaming kind the descriptor declares:
/// unary <c>Task&lt;TResponse&gt; M(TRequest, ServerCallContext)</c>,
/// server streaming <c>Task M(TRequest, IServerStreamWriter&lt;TResponse&gt;, ServerCallContext)</c>,
/// client streaming <c>Task&lt;TResponse&gt; M(IAsyncStreamReader&lt;TRequest&gt;, ServerCallContext)</c>,
/// bidirectional <c>Task M(IAsyncStreamReader&lt;TRequest&gt;, IServerStreamWriter&lt;TResponse&gt;, ServerCallContext)</c>.
/// A method the class lacks answers UNIMPLEMENTED.
/// </summary>
internal static class ServiceBinder
{
    public static CallHandler Bind(object service, MethodDescriptor method, CallHandlerServices services)
    {
        var path = $"/{method.Service.FullName}/{method.Name}";
        var implementation = service.GetType().GetMethod(method.Name, BindingFlags.Public | BindingFlags.Instance);
        if (implementation is null)
        {
            return new UnimplementedCallHandler(path, services);
        }

        var bind = (method.IsClientStreaming, method.IsServerStreaming) switch
        {
            (false, false) => nameof(BindUnary),
            (false, true) => nameof(BindServerStreaming),
            (true, false) => nameof(BindClientStreaming),
            (true, true) => nameof(BindDuplexStreaming),
        };
        var generic = typeof(ServiceBinder).GetMethod(bind, BindingFlags.NonPublic | BindingFlags.Static)!
            .MakeGenericMethod(method.InputType.ClrType, method.OutputType.ClrType);
        try
        {
            return (CallHandler)generic.Invoke(null, [service, implementation, path, services])!;
        }
        catch (TargetInvocationException ex) when (ex.InnerException is ArgumentException)
        {
            throw new InvalidOperationException(
                $"{service.GetType().Name}.{method.Name} does not have the signature {path} needs ({bind[4..]} of {method.InputType.Name} to {method.OutputType.Name}).",
                ex.InnerException);
        }
    }

    private static CallHandler BindUnary<TRequest, TResponse>(object service, MethodInfo implementation, string path, CallHandlerServices services)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse> =>
        new UnaryCallHandler<TRequest, TResponse>(path, services, ParserOf<TRequest>(),
            implementation.CreateDelegate<Func<TRequest, ServerCallContext, Task<TResponse>>>(service));

    private static CallHandler BindServerStreaming<TRequest, TResponse>(object service, MethodInfo implementation, string path, CallHandlerServices services)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse> =>
        new ServerStreamingCallHandler<TRequest, TResponse>(path, services, ParserOf<TRequest>(),
            implementation.CreateDelegate<Func<TRequest, IServerStreamWriter<TResponse>, ServerCallContext, Task>>(service));

    private static CallHandler BindClientStreaming<TRequest, TResponse>(object service, MethodInfo implementation, string path, CallHandlerServices services)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse> =>
        new ClientStreamingCallHandler<TRequest, TResponse>(path, services, ParserOf<TRequest>(),
            implementation.CreateDelegate<Func<IAsyncStreamReader<TRequest>, ServerCallContext, Task<TResponse>>>(service));

    private static CallHandler BindDuplexStreaming<TRequest, TResponse>(object service, MethodInfo implementation, string path, CallHandlerServices services)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse> =>
        new DuplexStreamingCallHandler<TRequest, TResponse>(path, services, ParserOf<TRequest>(),
            implementation.CreateDelegate<Func<IAsyncStreamReader<TRequest>, IServerStreamWriter<TResponse>, ServerCallContext, Task>>(service));

    private static MessageParser<T> ParserOf<T>()
        where T : class, IMessage<T> =>
        (MessageParser<T>)typeof(T).GetProperty("Parser", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;
}
