-- process_store, the SQLite equivalent of the Node.js service's SQL Server table. Times are TEXT in
-- the fixed-width UTC form strftime('%Y-%m-%dT%H:%M:%fZ') (millisecond precision, like the Node.js
-- service's DATETIME2(3)), so they compare correctly as strings. Guarded with IF NOT EXISTS, so a
-- table created by hand is adopted.
CREATE TABLE IF NOT EXISTS process_store (
  correlation_id  TEXT NOT NULL PRIMARY KEY,
  status          TEXT NOT NULL CHECK (status IN ('PENDING', 'DONE', 'ERROR')),
  payload_json    TEXT NULL,
  error_json      TEXT NULL,
  started_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX IF NOT EXISTS ix_process_store_status ON process_store (status);
CREATE INDEX IF NOT EXISTS ix_process_store_updated_at ON process_store (updated_at);
