-- mephisto-c database schema.
--
-- The file is a list of migrations.  Each starts with a line
-- "-- migration N: title" and runs in one transaction; afterwards
-- PRAGMA user_version is N.  A fresh database runs all of them in order, an
-- older one only those above its user_version.  Never edit a migration
-- that has shipped: append a new one.
--
-- Ids are random integers in [1000000, 2^63-1] chosen by the program.
-- Dates are UTC text with milliseconds, as in the original data model.

-- migration 1: the original data model
CREATE TABLE projects (
    project_id INTEGER PRIMARY KEY,
    project_name TEXT NOT NULL UNIQUE,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW'))
);

CREATE TABLE tasks (
    task_id INTEGER PRIMARY KEY,
    task_name TEXT NOT NULL UNIQUE,
    task_type TEXT NOT NULL,
    project_id INTEGER NULL,
    parent_task_id INTEGER NULL,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    FOREIGN KEY (parent_task_id) REFERENCES tasks (task_id),
    FOREIGN KEY (project_id) REFERENCES projects (project_id)
);

CREATE TABLE requesters (
    requester_id INTEGER PRIMARY KEY,
    requester_name TEXT NOT NULL UNIQUE,
    provider_type TEXT NOT NULL,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW'))
);

CREATE TABLE task_runs (
    task_run_id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL,
    requester_id INTEGER NOT NULL,
    init_params TEXT NOT NULL,
    is_completed BOOLEAN NOT NULL,
    provider_type TEXT NOT NULL,
    task_type TEXT NOT NULL,
    sandbox BOOLEAN NOT NULL,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    FOREIGN KEY (task_id) REFERENCES tasks (task_id),
    FOREIGN KEY (requester_id) REFERENCES requesters (requester_id)
);

CREATE TABLE assignments (
    assignment_id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL,
    task_run_id INTEGER NOT NULL,
    requester_id INTEGER NOT NULL,
    task_type TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    sandbox BOOLEAN NOT NULL,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    FOREIGN KEY (task_id) REFERENCES tasks (task_id),
    FOREIGN KEY (task_run_id) REFERENCES task_runs (task_run_id),
    FOREIGN KEY (requester_id) REFERENCES requesters (requester_id)
);

CREATE TABLE units (
    unit_id INTEGER PRIMARY KEY,
    assignment_id INTEGER NOT NULL,
    unit_index INTEGER NOT NULL,
    pay_amount FLOAT NOT NULL,
    provider_type TEXT NOT NULL,
    status TEXT NOT NULL,
    agent_id INTEGER NULL,
    worker_id INTEGER NULL,
    task_type TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    task_run_id INTEGER NOT NULL,
    sandbox BOOLEAN NOT NULL,
    requester_id INTEGER NOT NULL,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    FOREIGN KEY (assignment_id) REFERENCES assignments (assignment_id),
    FOREIGN KEY (agent_id) REFERENCES agents (agent_id),
    FOREIGN KEY (worker_id) REFERENCES workers (worker_id),
    FOREIGN KEY (task_id) REFERENCES tasks (task_id),
    FOREIGN KEY (task_run_id) REFERENCES task_runs (task_run_id),
    FOREIGN KEY (requester_id) REFERENCES requesters (requester_id),
    UNIQUE (assignment_id, unit_index)
);

CREATE TABLE workers (
    worker_id INTEGER PRIMARY KEY,
    worker_name TEXT NOT NULL UNIQUE,
    provider_type TEXT NOT NULL,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW'))
);

CREATE TABLE agents (
    agent_id INTEGER PRIMARY KEY,
    worker_id INTEGER NOT NULL,
    unit_id INTEGER NOT NULL,
    task_id INTEGER NOT NULL,
    task_run_id INTEGER NOT NULL,
    assignment_id INTEGER NOT NULL,
    task_type TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    status TEXT NOT NULL,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    FOREIGN KEY (worker_id) REFERENCES workers (worker_id),
    FOREIGN KEY (unit_id) REFERENCES units (unit_id),
    FOREIGN KEY (task_id) REFERENCES tasks (task_id) ON DELETE NO ACTION,
    FOREIGN KEY (task_run_id) REFERENCES task_runs (task_run_id) ON DELETE NO ACTION,
    FOREIGN KEY (assignment_id) REFERENCES assignments (assignment_id) ON DELETE NO ACTION
);

CREATE TABLE onboarding_agents (
    onboarding_agent_id INTEGER PRIMARY KEY,
    worker_id INTEGER NOT NULL,
    task_id INTEGER NOT NULL,
    task_run_id INTEGER NOT NULL,
    task_type TEXT NOT NULL,
    status TEXT NOT NULL,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    FOREIGN KEY (worker_id) REFERENCES workers (worker_id),
    FOREIGN KEY (task_run_id) REFERENCES task_runs (task_run_id)
);

CREATE TABLE qualifications (
    qualification_id INTEGER PRIMARY KEY,
    qualification_name TEXT NOT NULL UNIQUE,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    description CHAR(500) NULL
);

CREATE TABLE granted_qualifications (
    granted_qualification_id INTEGER PRIMARY KEY,
    worker_id INTEGER NOT NULL,
    qualification_id INTEGER NOT NULL,
    value INTEGER NOT NULL,
    update_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    FOREIGN KEY (worker_id) REFERENCES workers (worker_id),
    FOREIGN KEY (qualification_id) REFERENCES qualifications (qualification_id),
    UNIQUE (worker_id, qualification_id)
);

CREATE TABLE worker_review (
    id INTEGER PRIMARY KEY,
    unit_id INTEGER NULL,
    worker_id INTEGER NOT NULL,
    task_id INTEGER NULL,
    status TEXT NULL,
    review_note TEXT,
    bonus INTEGER,
    blocked_worker BOOLEAN DEFAULT false,
    updated_qualification_id INTEGER,
    updated_qualification_value INTEGER,
    revoked_qualification_id INTEGER,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    FOREIGN KEY (unit_id) REFERENCES units (unit_id),
    FOREIGN KEY (worker_id) REFERENCES workers (worker_id),
    FOREIGN KEY (task_id) REFERENCES tasks (task_id)
);

CREATE TABLE imported_data (
    id INTEGER PRIMARY KEY,
    source_file_name TEXT NOT NULL,
    data_labels TEXT NOT NULL,
    table_name TEXT NOT NULL,
    unique_field_names TEXT NOT NULL,
    unique_field_values TEXT NOT NULL,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW'))
);

CREATE TABLE migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    error_message TEXT NULL,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW'))
);

CREATE INDEX requesters_by_provider_index ON requesters (provider_type);
CREATE INDEX unit_by_status_index ON units (status);
CREATE INDEX unit_by_assignment_id_index ON units (assignment_id);
CREATE INDEX unit_by_task_run_index ON units (task_run_id);
CREATE INDEX unit_by_task_run_by_worker_by_status_index
    ON units (task_run_id, worker_id, status);
CREATE INDEX unit_by_task_by_worker_index ON units (task_id, worker_id);
CREATE INDEX agent_by_worker_by_status_index ON agents (worker_id, status);
CREATE INDEX agent_by_task_run_index ON agents (task_run_id);
CREATE INDEX assignment_by_task_run_index ON assignments (task_run_id);
CREATE INDEX task_run_by_requester_index ON task_runs (requester_id);
CREATE INDEX task_run_by_task_index ON task_runs (task_id);
CREATE INDEX worker_review_by_unit_index ON worker_review (unit_id);

-- migration 2: data kept in the database instead of files, and run state
-- The original keeps assignment and agent data in JSON files under the run
-- folder; here they are rows, committed in the same transaction as the
-- status change they belong to.

-- assign_data.json: {"shared": {...}, "unit_data": [{...}, ...]}
CREATE TABLE assignment_data (
    assignment_id INTEGER PRIMARY KEY,
    shared TEXT NOT NULL DEFAULT '{}',
    unit_data TEXT NOT NULL DEFAULT '[{}]',
    FOREIGN KEY (assignment_id) REFERENCES assignments (assignment_id)
);

-- agent_data.json and agent_meta.json; times are float epoch seconds.
CREATE TABLE agent_data (
    agent_id INTEGER PRIMARY KEY,
    inputs TEXT NULL,
    outputs TEXT NULL,
    metadata TEXT NULL,
    files TEXT NOT NULL DEFAULT '[]',
    task_start REAL NULL,
    task_end REAL NULL,
    FOREIGN KEY (agent_id) REFERENCES agents (agent_id)
);

CREATE TABLE onboarding_agent_data (
    onboarding_agent_id INTEGER PRIMARY KEY,
    inputs TEXT NULL,
    outputs TEXT NULL,
    task_start REAL NULL,
    task_end REAL NULL,
    FOREIGN KEY (onboarding_agent_id)
        REFERENCES onboarding_agents (onboarding_agent_id)
);

-- The browser's agent_registration_id, so that a reconnect finds the same
-- agent after a pool restart.  Exactly one of agent_id and
-- onboarding_agent_id is set; a registration moves from its onboarding
-- agent to its real agent when onboarding passes.
CREATE TABLE agent_registrations (
    registration_id TEXT NOT NULL,
    task_run_id INTEGER NOT NULL,
    worker_id INTEGER NOT NULL,
    agent_id INTEGER NULL,
    onboarding_agent_id INTEGER NULL,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    PRIMARY KEY (task_run_id, registration_id),
    FOREIGN KEY (task_run_id) REFERENCES task_runs (task_run_id),
    FOREIGN KEY (worker_id) REFERENCES workers (worker_id),
    FOREIGN KEY (agent_id) REFERENCES agents (agent_id),
    FOREIGN KEY (onboarding_agent_id)
        REFERENCES onboarding_agents (onboarding_agent_id)
);

-- Money paid or to be paid.  idempotency_key is unique: recording the same
-- bonus twice is a no-op, and a provider call carries the key so that a
-- retry after a crash is never paid twice.
CREATE TABLE ledger (
    ledger_id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,                 -- 'bonus' | 'payment'
    worker_id INTEGER NOT NULL,
    unit_id INTEGER NULL,
    task_run_id INTEGER NULL,
    amount REAL NOT NULL,
    reason TEXT NULL,
    status TEXT NOT NULL,               -- 'pending' | 'paid' | 'failed'
    provider_type TEXT NOT NULL,
    provider_ref TEXT NULL,
    error_message TEXT NULL,
    update_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    FOREIGN KEY (worker_id) REFERENCES workers (worker_id),
    FOREIGN KEY (unit_id) REFERENCES units (unit_id)
);
CREATE INDEX ledger_by_worker_index ON ledger (worker_id);
CREATE INDEX ledger_by_unit_index ON ledger (unit_id);

-- What the supervisor of a run knows about it.  status: 'running',
-- 'stopping', 'completed', 'stopped'.
CREATE TABLE task_run_state (
    task_run_id INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    task_url TEXT NULL,
    port INTEGER NULL,
    supervisor_pid INTEGER NULL,
    update_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    FOREIGN KEY (task_run_id) REFERENCES task_runs (task_run_id)
);

-- Append-only log of what happened in a run (unit and agent status
-- changes, submissions, restarts).  The sequence number lets a reader
-- follow the log from where it stopped.
CREATE TABLE run_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_run_id INTEGER NOT NULL,
    unit_id INTEGER NULL,
    agent_id INTEGER NULL,
    worker_id INTEGER NULL,
    event TEXT NOT NULL,
    detail TEXT NULL,
    creation_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW'))
);
CREATE INDEX run_events_by_run_index ON run_events (task_run_id, seq);

-- Local records of the mock and inhouse providers (the original keeps them
-- in mock.db and inhouse.db).
CREATE TABLE provider_workers (
    worker_id INTEGER NOT NULL,
    provider_type TEXT NOT NULL,
    is_blocked BOOLEAN NOT NULL DEFAULT false,
    block_reason TEXT NULL,
    update_date DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    PRIMARY KEY (worker_id, provider_type),
    FOREIGN KEY (worker_id) REFERENCES workers (worker_id)
);

CREATE TABLE provider_units (
    unit_id INTEGER PRIMARY KEY,
    provider_type TEXT NOT NULL,
    is_expired BOOLEAN NOT NULL DEFAULT false,
    FOREIGN KEY (unit_id) REFERENCES units (unit_id)
);

CREATE TABLE provider_requesters (
    requester_id INTEGER PRIMARY KEY,
    provider_type TEXT NOT NULL,
    is_registered BOOLEAN NOT NULL DEFAULT false,
    FOREIGN KEY (requester_id) REFERENCES requesters (requester_id)
);

CREATE INDEX agent_by_unit_index ON agents (unit_id);
CREATE INDEX onboarding_agent_by_worker_index
    ON onboarding_agents (task_run_id, worker_id);
CREATE INDEX granted_by_worker_index ON granted_qualifications (worker_id);

-- migration 3: an index for offering units
-- Finding the oldest unit of a run in a status is an index seek instead of
-- a sort of the run's units.  IF NOT EXISTS: older pools created this
-- index themselves.
CREATE INDEX IF NOT EXISTS unit_by_run_status_date_index
    ON units (task_run_id, status, creation_date, unit_id);

-- migration 4: counting a run's units from the index alone
-- The run's own units (unit_index >= 0; screening and gold units are
-- negative) are counted by status every few hundred milliseconds while a
-- run is live: with unit_index in the index no unit's row is read.
DROP INDEX unit_by_run_status_date_index;
CREATE INDEX unit_by_run_status_date_index
    ON units (task_run_id, status, creation_date, unit_id, unit_index);

-- migration 5: no index of units by assignment alone
-- units (assignment_id) is the start of the UNIQUE (assignment_id,
-- unit_index) index, which serves every query it served, in unit_index
-- order too; each new unit has one index entry fewer to write.  (units
-- (task_run_id) stays: within a run it is in unit_id order, which the
-- exports of a run read in.)
DROP INDEX unit_by_assignment_id_index;
