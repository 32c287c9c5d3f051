if (args is ["admin", .. var adminArgs])
{
    return await BedBureau.Gateway.Admin.AdminCommandLine.RunAsync(adminArgs);
}

await using var app = BedBureau.Gateway.GatewayApp.Build(args);
await BedBureau.Gateway.GatewayApp.InitializeAsync(app);
await app.StartAsync();
BedBureau.Gateway.GatewayApp.PrintWhereToFind(app, Console.Out);
await app.WaitForShutdownAsync();
return 0;
