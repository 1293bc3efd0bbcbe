"""Numbered schema migrations, from the first release on.

The version lives in SQLite's ``PRAGMA user_version`` so checking it costs one statement.
Each migration is plain DDL run inside one transaction; never edit a released migration,
add a new one and bump ``schema.SCHEMA_VERSION`` (the models must match the result).
"""

from __future__ import annotations

import sqlite3

# Version 1: the first release.
_V1 = """
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    uid VARCHAR NOT NULL UNIQUE,
    created_at FLOAT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 0,
    git_commit_start VARCHAR
);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    uid VARCHAR NOT NULL UNIQUE,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    kind VARCHAR NOT NULL,
    step_number INTEGER NOT NULL,
    step_name VARCHAR,
    step_identity VARCHAR NOT NULL,
    command TEXT NOT NULL,
    argv TEXT NOT NULL,
    cwd TEXT NOT NULL,
    started_at FLOAT NOT NULL,
    ended_at FLOAT NOT NULL,
    exit_code INTEGER NOT NULL,
    interrupted BOOLEAN NOT NULL DEFAULT 0,
    tracer VARCHAR NOT NULL,
    git_commit VARCHAR,
    git_branch VARCHAR,
    git_remote VARCHAR,
    git_dirty BOOLEAN NOT NULL DEFAULT 0,
    git_diff_hash VARCHAR,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_jobs_session_step ON jobs (session_id, step_number);
CREATE INDEX ix_jobs_session_identity ON jobs (session_id, step_identity);
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    algorithm VARCHAR NOT NULL,
    digest VARCHAR NOT NULL,
    size INTEGER NOT NULL,
    is_composite BOOLEAN NOT NULL DEFAULT 0,
    first_seen_at FLOAT NOT NULL,
    first_seen_path TEXT,
    UNIQUE (algorithm, digest)
);
CREATE INDEX ix_artifacts_digest ON artifacts (digest);
CREATE TABLE job_files (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    role VARCHAR NOT NULL,
    path TEXT NOT NULL,
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    PRIMARY KEY (job_id, role, path)
);
CREATE INDEX ix_job_files_path ON job_files (path);
CREATE INDEX ix_job_files_artifact_id ON job_files (artifact_id);
CREATE TABLE composite_members (
    composite_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    relpath TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES artifacts(id),
    PRIMARY KEY (composite_id, relpath)
);
CREATE INDEX ix_composite_members_member_id ON composite_members (member_id);
CREATE TABLE hash_cache (
    dev INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    algorithm VARCHAR NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    digest VARCHAR NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (dev, inode, algorithm)
);
"""

# Version 2: notebook cells are jobs too (the roar kernel records one per executed cell).
_V2 = """
ALTER TABLE jobs ADD COLUMN notebook_path TEXT;
ALTER TABLE jobs ADD COLUMN cell_id VARCHAR;
ALTER TABLE jobs ADD COLUMN execution_count INTEGER;
ALTER TABLE jobs ADD COLUMN source TEXT;
ALTER TABLE jobs ADD COLUMN source_hash VARCHAR;
"""

# Version 3: the user-namespace names a cell read and (re)defined, linking it to the cell
# whose execution last defined each name it read.
_V3 = """
CREATE TABLE job_variables (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    role VARCHAR NOT NULL,
    name TEXT NOT NULL,
    producer_job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    PRIMARY KEY (job_id, role, name)
);
CREATE INDEX ix_job_variables_producer_job_id ON job_variables (producer_job_id);
"""

# Version 4: a job's deleted files (role 'deleted'). What a deleted path held may be unknown, so
# job_files.artifact_id becomes nullable: SQLite cannot relax NOT NULL in place, so the table is
# rebuilt (rows, primary key and indexes kept).
_V4 = """
CREATE TABLE job_files_v4 (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    role VARCHAR NOT NULL,
    path TEXT NOT NULL,
    artifact_id INTEGER REFERENCES artifacts(id),
    PRIMARY KEY (job_id, role, path)
);
INSERT INTO job_files_v4 (job_id, role, path, artifact_id)
    SELECT job_id, role, path, artifact_id FROM job_files;
DROP TABLE job_files;
ALTER TABLE job_files_v4 RENAME TO job_files;
CREATE INDEX ix_job_files_path ON job_files (path);
CREATE INDEX ix_job_files_artifact_id ON job_files (artifact_id);
"""

# Version 5: a job's exit code may be unknown (NULL): a job whose roar was killed is recorded
# by the next roar command as interrupted, and an exit status nobody saw is not invented. SQLite
# cannot relax NOT NULL in place, so the table is rebuilt (rows, ids and indexes kept); the tables
# referring to jobs keep their rows because foreign keys are off while it is (``_FK_OFF``).
_V5 = """
CREATE TABLE jobs_v5 (
    id INTEGER PRIMARY KEY,
    uid VARCHAR NOT NULL UNIQUE,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    kind VARCHAR NOT NULL,
    step_number INTEGER NOT NULL,
    step_name VARCHAR,
    step_identity VARCHAR NOT NULL,
    command TEXT NOT NULL,
    argv TEXT NOT NULL,
    cwd TEXT NOT NULL,
    started_at FLOAT NOT NULL,
    ended_at FLOAT NOT NULL,
    exit_code INTEGER,
    interrupted BOOLEAN NOT NULL DEFAULT 0,
    tracer VARCHAR NOT NULL,
    git_commit VARCHAR,
    git_branch VARCHAR,
    git_remote VARCHAR,
    git_dirty BOOLEAN NOT NULL DEFAULT 0,
    git_diff_hash VARCHAR,
    metadata TEXT NOT NULL DEFAULT '{}',
    notebook_path TEXT,
    cell_id VARCHAR,
    execution_count INTEGER,
    source TEXT,
    source_hash VARCHAR
);
INSERT INTO jobs_v5 SELECT id, uid, session_id, kind, step_number, step_name, step_identity,
    command, argv, cwd, started_at, ended_at, exit_code, interrupted, tracer, git_commit,
    git_branch, git_remote, git_dirty, git_diff_hash, metadata, notebook_path, cell_id,
    execution_count, source, source_hash FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_v5 RENAME TO jobs;
CREATE INDEX ix_jobs_session_step ON jobs (session_id, step_number);
CREATE INDEX ix_jobs_session_identity ON jobs (session_id, step_identity)
"""

# Version 6: build steps are numbered on their own, @B1, @B2, … in each session (they shared one
# counter with run steps, so the first build after five runs was @B6). Existing build steps are
# renumbered in the order each first ran; run and cell steps keep their numbers.
_V6 = """
CREATE TEMP TABLE build_steps_v6 AS
    SELECT session_id, step_number AS old_number, MIN(id) AS first_id
    FROM jobs WHERE kind = 'build' GROUP BY session_id, step_number;
UPDATE jobs SET step_number = (
    SELECT COUNT(*) FROM build_steps_v6 earlier, build_steps_v6 b
    WHERE b.session_id = jobs.session_id AND b.old_number = jobs.step_number
      AND earlier.session_id = b.session_id AND earlier.first_id <= b.first_id)
    WHERE kind = 'build';
DROP TABLE build_steps_v6
"""

# Version 7: labels (`roar label`). Every change to an entity's labels is a new version row
# holding the whole document after the change, so `roar label history` lists every version and
# the current labels are the latest one. An entity is named the way the user and a registry
# name it: a session's uid (entity 'dag'), a job's uid, an artifact's digest (the
# same bytes under any name, so an artifact's labels outlive `roar pop` of the job that wrote it).
_V7 = """
CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    entity VARCHAR NOT NULL,
    entity_key VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    document TEXT NOT NULL,
    operation VARCHAR NOT NULL,
    change TEXT NOT NULL DEFAULT '{}',
    created_at FLOAT NOT NULL,
    UNIQUE (entity, entity_key, version)
)
"""

# Version 8: objects in object stores (`roar get` / `roar put`). A remote object is an artifact
# like a file: its bytes' digest is the artifact, and a job's file row names it by its URL. This
# table keeps what the store says about the object, which is not its content digest: the ETag (a
# multipart upload's ETag is a digest of part digests, not of the bytes), the version id or
# generation, the size. One row per (url, etag, version) seen; ``job_id`` is the get or put job
# that saw it first (NULL once that job is popped).
_V8 = """
CREATE TABLE remote_objects (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    etag VARCHAR,
    version_id VARCHAR,
    size INTEGER NOT NULL,
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    first_seen_at FLOAT NOT NULL,
    UNIQUE (url, etag, version_id, artifact_id)
);
CREATE INDEX ix_remote_objects_url ON remote_objects (url);
CREATE INDEX ix_remote_objects_artifact_id ON remote_objects (artifact_id);
CREATE INDEX ix_remote_objects_job_id ON remote_objects (job_id)
"""

MIGRATIONS: dict[int, str] = {
    1: _V1, 2: _V2, 3: _V3, 4: _V4, 5: _V5, 6: _V6, 7: _V7, 8: _V8,
}  # fmt: skip
LATEST = max(MIGRATIONS)

# Migrations that rebuild a table other tables refer to: run with foreign keys off (a DROP would
# otherwise delete the referring rows), checked before they commit.
_FK_OFF = {5}


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST) -> int:
    """Bring the store up to ``target``, each step in its own transaction. Returns the old version.

    ``BEGIN IMMEDIATE`` takes the write lock before re-reading the version, so two roar
    processes opening an old store at once migrate it exactly once.
    """
    old = current_version(conn)
    for version in range(old + 1, target + 1):
        fk_off = version in _FK_OFF
        if fk_off:  # only outside a transaction does this take effect
            fk_was = conn.execute("PRAGMA foreign_keys").fetchone()[0]
            conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if current_version(conn) >= version:  # another process got here first
                conn.execute("COMMIT")
                continue
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            if fk_off and conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                raise sqlite3.IntegrityError(f"schema {version}: a foreign key broke")
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            if fk_off:
                conn.execute(f"PRAGMA foreign_keys = {'ON' if fk_was else 'OFF'}")
    return old
