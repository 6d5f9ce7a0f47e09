-- process_store, the PostgreSQL equivalent of the Node.js service's SQL Server table. Guarded with
-- IF NOT EXISTS, so a table created by hand with this shape is adopted. The table is
-- unqualified: it lives in the first schema of the connection's search_path.
-- correlation_id uses the "C" collation: byte order, like SQLite, for List's keyset cursor.
CREATE TABLE IF NOT EXISTS process_store (
  correlation_id  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  status          TEXT NOT NULL CHECK (status IN ('PENDING', 'DONE', 'ERROR')),
  payload_json    TEXT NULL,
  error_json      TEXT NULL,
  started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS ix_process_store_status ON process_store (status);
CREATE INDEX IF NOT EXISTS ix_process_store_updated_at ON process_store (updated_at);
