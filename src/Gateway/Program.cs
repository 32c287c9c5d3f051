await using var app = BedBureau.Gateway.GatewayApp.Build(args);
await BedBureau.Gateway.GatewayApp.InitializeAsync(app);
await app.RunAsync();
