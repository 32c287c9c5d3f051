using System.Data.Common;

namespace BedBureau.Gateway.Storage;

/// <summary>Commands with named parameters, the same way on PostgreSQL and SQLite (both take <c>@name</c>).</summary>
internal static class SqlCommands
{
    public static DbCommand Create(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.Add(Parameter(command.CreateParameter(), name, value));
        }

        return command;
    }

    public static DbBatchCommand Create(DbBatch batch, string sql, (string Name, object? Value)[] parameters)
    {
        var command = batch.CreateBatchCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.Add(Parameter(command.CreateParameter(), name, value));
        }

        return command;
    }

    /// <summary>Adds one parameter; null is SQL NULL.</summary>
    public static void Add(DbCommand command, string name, object? value) => command.Parameters.Add(Parameter(command.CreateParameter(), name, value));

    private static DbParameter Parameter(DbParameter parameter, string name, object? value)
    {
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        return parameter;
    }
}
