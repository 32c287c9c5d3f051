await using var app = BedBureau.Gateway.GatewayApp.Build(args);
await app.RunAsync();
