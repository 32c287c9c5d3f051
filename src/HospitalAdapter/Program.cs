Console.Error.WriteLine("bedbureau-hospital-adapter: push and watch arrive with issue 6.");
return 2;
