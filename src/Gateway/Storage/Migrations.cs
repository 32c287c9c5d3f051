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
        new(3, "bed grains, admission days, referrals, events, idempotency",
            Postgres: """
                CREATE TABLE bed_grains (
                    hospital_id text NOT NULL,
                    profile_code text NOT NULL,
                    version bigint NOT NULL,
                    census jsonb,
                    next_code_sequence bigint NOT NULL,
                    next_event_sequence bigint NOT NULL,
                    PRIMARY KEY (hospital_id, profile_code));
                CREATE TABLE admission_days (
                    hospital_id text NOT NULL,
                    profile_code text NOT NULL,
                    date date NOT NULL,
                    slots integer NOT NULL,
                    PRIMARY KEY (hospital_id, profile_code, date));
                CREATE TABLE referrals (
                    code text PRIMARY KEY,
                    hospital_id text NOT NULL,
                    profile_code text NOT NULL,
                    status smallint NOT NULL,
                    planned_date date NOT NULL,
                    patient_key text NOT NULL,
                    referring_organization_id text NOT NULL,
                    updated_at timestamptz NOT NULL,
                    body jsonb NOT NULL);
                CREATE INDEX referrals_grain ON referrals (hospital_id, profile_code);
                CREATE INDEX referrals_active ON referrals (hospital_id, profile_code, planned_date) WHERE status IN (1, 2);
                CREATE INDEX referrals_polyclinic ON referrals (referring_organization_id, updated_at);
                CREATE TABLE referral_events (
                    id bigserial PRIMARY KEY,
                    hospital_id text NOT NULL,
                    profile_code text NOT NULL,
                    sequence bigint NOT NULL,
                    code text NOT NULL,
                    action text NOT NULL,
                    status smallint NOT NULL,
                    reason text NOT NULL,
                    actor_organization_id text NOT NULL,
                    occurred_at timestamptz NOT NULL,
                    planned_date date NOT NULL,
                    UNIQUE (hospital_id, profile_code, sequence));
                CREATE TABLE idempotency_records (
                    hospital_id text NOT NULL,
                    profile_code text NOT NULL,
                    key text NOT NULL,
                    operation text NOT NULL,
                    code text NOT NULL,
                    protected_access_key text,
                    created_at timestamptz NOT NULL,
                    PRIMARY KEY (hospital_id, profile_code, key));
                """,
            Sqlite: """
                CREATE TABLE bed_grains (
                    hospital_id TEXT NOT NULL,
                    profile_code TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    census TEXT,
                    next_code_sequence INTEGER NOT NULL,
                    next_event_sequence INTEGER NOT NULL,
                    PRIMARY KEY (hospital_id, profile_code));
                CREATE TABLE admission_days (
                    hospital_id TEXT NOT NULL,
                    profile_code TEXT NOT NULL,
                    date TEXT NOT NULL,
                    slots INTEGER NOT NULL,
                    PRIMARY KEY (hospital_id, profile_code, date));
                CREATE TABLE referrals (
                    code TEXT PRIMARY KEY,
                    hospital_id TEXT NOT NULL,
                    profile_code TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    planned_date TEXT NOT NULL,
                    patient_key TEXT NOT NULL,
                    referring_organization_id TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    body TEXT NOT NULL);
                CREATE INDEX referrals_grain ON referrals (hospital_id, profile_code);
                CREATE INDEX referrals_active ON referrals (hospital_id, profile_code, planned_date) WHERE status IN (1, 2);
                CREATE INDEX referrals_polyclinic ON referrals (referring_organization_id, updated_at);
                CREATE TABLE referral_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    hospital_id TEXT NOT NULL,
                    profile_code TEXT NOT NULL,
                    sequence INTEGER NOT NULL,
                    code TEXT NOT NULL,
                    action TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    actor_organization_id TEXT NOT NULL,
                    occurred_at TEXT NOT NULL,
                    planned_date TEXT NOT NULL,
                    UNIQUE (hospital_id, profile_code, sequence));
                CREATE TABLE idempotency_records (
                    hospital_id TEXT NOT NULL,
                    profile_code TEXT NOT NULL,
                    key TEXT NOT NULL,
                    operation TEXT NOT NULL,
                    code TEXT NOT NULL,
                    protected_access_key TEXT,
                    created_at TEXT NOT NULL,
                    PRIMARY KEY (hospital_id, profile_code, key));
                """),
        new(4, "hospitals and the bed profiles they offer",
            Postgres: """
                CREATE TABLE hospitals (
                    id text PRIMARY KEY,
                    bin char(12) NOT NULL,
                    name text NOT NULL,
                    region_code text NOT NULL,
                    locality text NOT NULL);
                CREATE TABLE hospital_profiles (
                    hospital_id text NOT NULL REFERENCES hospitals(id),
                    profile_code text NOT NULL,
                    PRIMARY KEY (hospital_id, profile_code));
                """,
            Sqlite: """
                CREATE TABLE hospitals (
                    id TEXT PRIMARY KEY,
                    bin TEXT NOT NULL,
                    name TEXT NOT NULL,
                    region_code TEXT NOT NULL,
                    locality TEXT NOT NULL);
                CREATE TABLE hospital_profiles (
                    hospital_id TEXT NOT NULL REFERENCES hospitals(id),
                    profile_code TEXT NOT NULL,
                    PRIMARY KEY (hospital_id, profile_code));
                """),
        new(5, "audit: failure reasons, filters by action and time",
            Postgres: """
                ALTER TABLE audit_records ADD COLUMN reason text NOT NULL DEFAULT '';
                CREATE INDEX audit_records_action ON audit_records (action, id);
                CREATE INDEX audit_records_time ON audit_records (occurred_at, id);
                """,
            Sqlite: """
                ALTER TABLE audit_records ADD COLUMN reason TEXT NOT NULL DEFAULT '';
                CREATE INDEX audit_records_action ON audit_records (action, id);
                CREATE INDEX audit_records_time ON audit_records (occurred_at, id);
                """),
        new(6, "the requests a grain loads on activation, apart from its registrations",
            Postgres: """
                CREATE INDEX idempotency_records_requests ON idempotency_records (hospital_id, profile_code, created_at)
                    WHERE operation NOT IN ('RegisterReferral', 'RegisterReferral:Fenced');
                """,
            Sqlite: """
                CREATE INDEX idempotency_records_requests ON idempotency_records (hospital_id, profile_code, created_at)
                    WHERE operation NOT IN ('RegisterReferral', 'RegisterReferral:Fenced');
                """),
        new(7, "SQLite: a grain's calendar stored together (read on every activation)",
            Postgres: """
                -- Nothing to do: PostgreSQL's heap has no key order to store by; its index scan of a calendar is cheap enough.
                SELECT 1;
                """,
            Sqlite: """
                CREATE TABLE admission_days_by_grain (
                    hospital_id TEXT NOT NULL,
                    profile_code TEXT NOT NULL,
                    date TEXT NOT NULL,
                    slots INTEGER NOT NULL,
                    PRIMARY KEY (hospital_id, profile_code, date)) WITHOUT ROWID;
                INSERT INTO admission_days_by_grain (hospital_id, profile_code, date, slots)
                    SELECT hospital_id, profile_code, date, slots FROM admission_days;
                DROP TABLE admission_days;
                ALTER TABLE admission_days_by_grain RENAME TO admission_days;
                """),
        new(8, "PostgreSQL: a grain's registrations read from one index",
            Postgres: """
                -- Loading a grain's referrals reads its registrations too; in the heap they lie one
                -- per page among everyone's. Covered by this index they are an index-only scan of a
                -- few pages (about 50 heap pages fewer per grain on the national dataset).
                CREATE INDEX idempotency_records_registrations ON idempotency_records (hospital_id, profile_code, created_at)
                    INCLUDE (key, operation, code, protected_access_key)
                    WHERE operation IN ('RegisterReferral', 'RegisterReferral:Fenced');
                """,
            Sqlite: """
                -- Nothing to do: the embedded store's day is not bound by these reads.
                SELECT 1;
                """),
        new(9, "a remembered request keeps its first result for its repetition",
            Postgres: """
                ALTER TABLE idempotency_records ADD COLUMN result text;
                """,
            Sqlite: """
                ALTER TABLE idempotency_records ADD COLUMN result TEXT;
                """),
        new(10, "patient grains: one patient's hold per bed profile, across nodes",
            Postgres: """
                -- patient_key is the keyed hash of the IIN. No hold: hospital_id and the rest NULL.
                CREATE TABLE patient_grains (
                    patient_key text NOT NULL,
                    profile_code text NOT NULL,
                    version bigint NOT NULL,
                    hospital_id text,
                    actor_organization_id text,
                    request_id text,
                    code text,
                    held_at timestamptz,
                    PRIMARY KEY (patient_key, profile_code));
                """,
            Sqlite: """
                CREATE TABLE patient_grains (
                    patient_key TEXT NOT NULL,
                    profile_code TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    hospital_id TEXT,
                    actor_organization_id TEXT,
                    request_id TEXT,
                    code TEXT,
                    held_at INTEGER,
                    PRIMARY KEY (patient_key, profile_code)) WITHOUT ROWID;
                """),
        new(11, "PostgreSQL: a remembered request's key without a unique index",
            Postgres: """
                -- A request is recorded once by construction: a grain answers a repeat from the
                -- requests it remembers (loaded from here for the retention time) and commits a new
                -- one only with its version check in the same transaction, so two activations, on
                -- one node or two, never both record it. No query reads by the key. The index cost
                -- about a sixth of PostgreSQL's CPU in ReportBeds rounds on the national dataset
                -- (its processes' own CPU per profile update: 48-58 µs with it, 42-44 µs without,
                -- alternating runs).
                ALTER TABLE idempotency_records DROP CONSTRAINT idempotency_records_pkey;
                """,
            Sqlite: """
                -- Kept: the embedded store's day is not bound by it, and dropping it rebuilds the table.
                SELECT 1;
                """),
        new(12, "SQLite: a remembered request's key without a unique index, as on PostgreSQL (11)",
            Postgres: """
                -- Done by 11.
                SELECT 1;
                """,
            Sqlite: """
                -- As 11 on PostgreSQL, for the same reason, and more so: every grain change's request
                -- landed on a page of its own in this large index, and SQLite writes whole pages to its
                -- WAL. ReportBeds rounds on the national dataset went from about 17,500 to about 24,500
                -- profile updates/s, with half the WAL written (alternating runs). A grain's
                -- registrations, which the key's grain prefix found, get the index PostgreSQL has (8).
                -- SQLite drops a primary key only by rebuilding its table.
                CREATE TABLE idempotency_records_rebuilt (
                    hospital_id TEXT NOT NULL,
                    profile_code TEXT NOT NULL,
                    key TEXT NOT NULL,
                    operation TEXT NOT NULL,
                    code TEXT NOT NULL,
                    protected_access_key TEXT,
                    created_at TEXT NOT NULL,
                    result TEXT);
                INSERT INTO idempotency_records_rebuilt (hospital_id, profile_code, key, operation, code, protected_access_key, created_at, result)
                    SELECT hospital_id, profile_code, key, operation, code, protected_access_key, created_at, result FROM idempotency_records;
                DROP TABLE idempotency_records;
                ALTER TABLE idempotency_records_rebuilt RENAME TO idempotency_records;
                CREATE INDEX idempotency_records_requests ON idempotency_records (hospital_id, profile_code, created_at)
                    WHERE operation NOT IN ('RegisterReferral', 'RegisterReferral:Fenced');
                CREATE INDEX idempotency_records_registrations ON idempotency_records (hospital_id, profile_code, created_at)
                    WHERE operation IN ('RegisterReferral', 'RegisterReferral:Fenced');
                """),
    ];
}
