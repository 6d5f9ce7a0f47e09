-- The start protocol (one process instance per correlation id) and the replicas' heartbeats.
-- Every column is nullable, so rows written by older versions or by the waitroom library stay
-- valid: a row without process_key is only waited on, never started.
--   process_key          the process definition key the row was registered for by a start
--   process_instance_id  the engine's instance id, once the start answered
--   start_attempt        the start claim's number (1 for the creator, +1 per takeover): the
--                        fencing token of a takeover
--   start_lease_until    the current claim holds until then (database clock, the stored
--                        fixed-width UTC form, so it compares as a string)
-- The runner applies this file in one BEGIN IMMEDIATE transaction after re-reading the version
-- (see 002), so two processes never both run the ADD COLUMNs.
ALTER TABLE process_store ADD COLUMN process_key TEXT NULL;
ALTER TABLE process_store ADD COLUMN process_instance_id TEXT NULL;
ALTER TABLE process_store ADD COLUMN start_attempt INTEGER NULL;
ALTER TABLE process_store ADD COLUMN start_lease_until TEXT NULL;

-- One row per running replica, beaten every second or so; a survivor unlocks the engine tasks
-- of a replica whose beat is stale.
CREATE TABLE IF NOT EXISTS process_store_heartbeat (
  worker_id   TEXT NOT NULL PRIMARY KEY,
  started_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  beat_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
