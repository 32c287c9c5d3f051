namespace BedBureau.Gateway.Storage;

/// <summary>One versioned change of the schema, in both dialects. Never edit a released one: add the next.</summary>
public sealed record Migration(int Version, string Name, string Postgres, string Sqlite);

/// <summary>The schema, in order. The service applies what is missing at start-up.</summary>
public static class Migrations
{
    public static IReadOnlyList<Migration> All { get; } =
    [
        new(1, "organisations and api keys",
            Postgres: """
                CREATE TABLE organizations (
                    id text PRIMARY KEY,
                    kind smallint NOT NULL,
                    name text NOT NULL,
                    bin char(12) NOT NULL,
                    region_code text NOT NULL);
                CREATE TABLE api_keys (
                    key_id text PRIMARY KEY,
                    organization_id text NOT NULL REFERENCES organizations(id),
                    salt bytea NOT NULL,
                    hash bytea NOT NULL,
                    created_at timestamptz NOT NULL,
                    revoked_at timestamptz);
                CREATE INDEX api_keys_organization ON api_keys (organization_id);
                """,
            Sqlite: """
                CREATE TABLE organizations (
                    id TEXT PRIMARY KEY,
                    kind INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    bin TEXT NOT NULL,
                    region_code TEXT NOT NULL);
                CREATE TABLE api_keys (
                    key_id TEXT PRIMARY KEY,
                    organization_id TEXT NOT NULL REFERENCES organizations(id),
                    salt BLOB NOT NULL,
                    hash BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    revoked_at INTEGER);
                CREATE INDEX api_keys_organization ON api_keys (organization_id);
                """),
        new(2, "audit trail",
            Postgres: """
                CREATE TABLE audit_records (
                    id bigserial PRIMARY KEY,
                    actor_organization_id text NOT NULL,
                    action text NOT NULL,
                    target text NOT NULL,
                    occurred_at timestamptz NOT NULL,
                    request_id text NOT NULL,
                    outcome text NOT NULL);
                CREATE INDEX audit_records_actor ON audit_records (actor_organization_id, id);
                CREATE INDEX audit_records_target ON audit_records (target, id);
                """,
            Sqlite: """
                CREATE TABLE audit_records (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    actor_organization_id TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    request_id TEXT NOT NULL,
                    outcome TEXT NOT NULL);
                CREATE INDEX audit_records_actor ON audit_records (actor_organization_id, id);
                CREATE INDEX audit_records_target ON audit_records (target, id);
                """),
    ];
}
