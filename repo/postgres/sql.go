package postgres

import "github.com/camunda-waitroom/camunda-waitroom/repo/internal/sqlutil"

// The statements of the PostgreSQL store. The table is unqualified: it is found through the
// connection's search_path. Every statement that finishes rows also sends
// pg_notify(channel, correlation_id) for each of them, in the same statement and so in the
// same transaction: the notification goes out when the change commits, and not at all when
// nothing changed.

// bumpUpdatedAt sets updated_at to the database clock (now(): the start of the statement's
// transaction, which is the statement itself here), or one microsecond past the old value
// when the clock has not moved past it, so every change moves updated_at strictly forward.
const bumpUpdatedAt = `updated_at = GREATEST(now(), updated_at + interval '1 microsecond')`

// columns is the column list every read selects, in the order scanRecord expects.
const columns = sqlutil.Columns

const (
	// sqlCreate inserts a PENDING row or refreshes a PENDING one; a finished row is left
	// alone and RETURNING then yields no row.
	sqlCreate = `INSERT INTO process_store AS p (correlation_id, status, owner, started_at, updated_at)
VALUES ($1, 'PENDING', $2, now(), now())
ON CONFLICT (correlation_id) DO UPDATE
SET owner = EXCLUDED.owner, updated_at = GREATEST(now(), p.updated_at + interval '1 microsecond')
WHERE p.status = 'PENDING'
RETURNING ` + columns

	// sqlComplete: $1 id, $2 payload, $3 channel.
	sqlComplete = `WITH u AS (
  UPDATE process_store SET status = 'DONE', payload_json = $2, ` + bumpUpdatedAt + `
  WHERE correlation_id = $1 AND status = 'PENDING'
  RETURNING correlation_id)
SELECT count(*) FROM u CROSS JOIN LATERAL pg_notify($3, u.correlation_id) AS n`

	// sqlFail: $1 id, $2 error body, $3 channel.
	sqlFail = `WITH u AS (
  UPDATE process_store SET status = 'ERROR', error_json = $2, ` + bumpUpdatedAt + `
  WHERE correlation_id = $1 AND status = 'PENDING'
  RETURNING correlation_id)
SELECT count(*) FROM u CROSS JOIN LATERAL pg_notify($3, u.correlation_id) AS n`

	sqlStatusOf = `SELECT status FROM process_store WHERE correlation_id = $1`

	// sqlInsertFinished: $1 id, $2 status, $3 payload, $4 error body, $5 channel.
	sqlInsertFinished = `WITH u AS (
  INSERT INTO process_store (correlation_id, status, payload_json, error_json, started_at, updated_at)
  VALUES ($1, $2, $3, $4, now(), now())
  ON CONFLICT (correlation_id) DO NOTHING
  RETURNING correlation_id)
SELECT count(*) FROM u CROSS JOIN LATERAL pg_notify($5, u.correlation_id) AS n`

	sqlFind = `SELECT ` + columns + ` FROM process_store WHERE correlation_id = $1`

	// sqlStatuses takes the ids as one text array.
	sqlStatuses = `SELECT ` + columns + ` FROM process_store WHERE correlation_id = ANY($1::text[])`

	sqlList = `SELECT ` + columns + ` FROM process_store
WHERE correlation_id > $1 ORDER BY correlation_id LIMIT $2`

	sqlListStatus = `SELECT ` + columns + ` FROM process_store
WHERE correlation_id > $1 AND status = $3 ORDER BY correlation_id LIMIT $2`

	sqlDelete = `DELETE FROM process_store WHERE correlation_id = $1`

	sqlPendingCount = `SELECT count(*) FROM process_store WHERE status = 'PENDING'`

	// sqlClearOwned: $1 owner, $2 error body, $3 channel.
	sqlClearOwned = `WITH u AS (
  UPDATE process_store SET status = 'ERROR', error_json = $2, ` + bumpUpdatedAt + `
  WHERE owner = $1 AND status = 'PENDING'
  RETURNING correlation_id)
SELECT count(*) FROM u CROSS JOIN LATERAL pg_notify($3, u.correlation_id) AS n`

	// The retention statements take a bounded batch with FOR UPDATE SKIP LOCKED, so replicas
	// running them at once work on different rows instead of queueing on the same ones. The
	// batch is a MATERIALIZED CTE, run once: as "IN (SELECT ... LIMIT n FOR UPDATE SKIP
	// LOCKED)" the planner may re-run the subquery per outer row (it did once the table got
	// wider with migration 003), each run skipping the rows the previous ones locked, and so
	// touch more than n rows.

	// sqlDeleteFinishedBefore: $1 cutoff, $2 batch.
	sqlDeleteFinishedBefore = `WITH batch AS MATERIALIZED (
  SELECT correlation_id FROM process_store
  WHERE status IN ('DONE', 'ERROR') AND updated_at < $1
  ORDER BY updated_at LIMIT $2
  FOR UPDATE SKIP LOCKED)
DELETE FROM process_store p USING batch WHERE p.correlation_id = batch.correlation_id`

	// sqlExpirePendingBefore: $1 cutoff, $2 batch, $3 error body, $4 channel.
	sqlExpirePendingBefore = `WITH batch AS MATERIALIZED (
  SELECT correlation_id FROM process_store
  WHERE status = 'PENDING' AND started_at < $1
  ORDER BY started_at LIMIT $2
  FOR UPDATE SKIP LOCKED),
u AS (
  UPDATE process_store p SET status = 'ERROR', error_json = $3, ` + bumpUpdatedAt + `
  FROM batch WHERE p.correlation_id = batch.correlation_id AND p.status = 'PENDING'
  RETURNING p.correlation_id)
SELECT count(*) FROM u CROSS JOIN LATERAL pg_notify($4, u.correlation_id) AS n`
)
