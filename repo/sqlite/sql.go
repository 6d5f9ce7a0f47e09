package sqlite

import "github.com/camunda-waitroom/camunda-waitroom/repo/internal/sqlutil"

// The statements of the SQLite store. Times are TEXT in the fixed-width UTC form of
// timeFormat, so they compare correctly as strings; the database clock writes them.

// nowUTC is the database clock in the stored form, millisecond precision. SQLite evaluates
// 'now' once per statement, so every use in one statement reads the same instant.
const nowUTC = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`

// bumpUpdatedAt sets updated_at to the database clock, or to one millisecond past its old
// value when the clock has not moved past it (same millisecond, or a clock stepped back), so
// every change moves a row's updated_at strictly forward.
const bumpUpdatedAt = `updated_at = max(` + nowUTC + `, strftime('%Y-%m-%dT%H:%M:%fZ', updated_at, '+0.001 seconds'))`

// columns is the column list every read selects, in the order scanRecord expects.
const columns = sqlutil.Columns

const (
	// sqlMainFile names the file of the main database ("" when in memory), to key the
	// process's write gate.
	sqlMainFile = `SELECT file FROM pragma_database_list WHERE name = 'main'`

	// sqlCreate inserts a PENDING row or refreshes a PENDING one; a finished row is left
	// alone and RETURNING then yields no row.
	sqlCreate = `INSERT INTO process_store (correlation_id, status, owner, started_at, updated_at)
VALUES (?1, 'PENDING', ?2, ` + nowUTC + `, ` + nowUTC + `)
ON CONFLICT (correlation_id) DO UPDATE SET owner = excluded.owner, ` + bumpUpdatedAt + `
WHERE process_store.status = 'PENDING'
RETURNING ` + columns

	sqlComplete = `UPDATE process_store SET status = 'DONE', payload_json = ?2, ` + bumpUpdatedAt + `
WHERE correlation_id = ?1 AND status = 'PENDING'`

	sqlFail = `UPDATE process_store SET status = 'ERROR', error_json = ?2, ` + bumpUpdatedAt + `
WHERE correlation_id = ?1 AND status = 'PENDING'`

	sqlStatusOf = `SELECT status FROM process_store WHERE correlation_id = ?1`

	sqlInsertFinished = `INSERT INTO process_store (correlation_id, status, payload_json, error_json, started_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ` + nowUTC + `, ` + nowUTC + `)
ON CONFLICT (correlation_id) DO NOTHING`

	sqlFind = `SELECT ` + columns + ` FROM process_store WHERE correlation_id = ?1`

	// sqlStatuses takes the ids as one JSON array.
	sqlStatuses = `SELECT ` + columns + ` FROM process_store
WHERE correlation_id IN (SELECT value FROM json_each(?1))`

	sqlList = `SELECT ` + columns + ` FROM process_store
WHERE correlation_id > ?1 ORDER BY correlation_id LIMIT ?2`

	sqlListStatus = `SELECT ` + columns + ` FROM process_store
WHERE correlation_id > ?1 AND status = ?3 ORDER BY correlation_id LIMIT ?2`

	sqlDelete = `DELETE FROM process_store WHERE correlation_id = ?1`

	sqlPendingCount = `SELECT count(*) FROM process_store WHERE status = 'PENDING'`

	sqlClearOwned = `UPDATE process_store SET status = 'ERROR', error_json = ?2, ` + bumpUpdatedAt + `
WHERE owner = ?1 AND status = 'PENDING'`

	// The retention statements work in bounded batches. SQLite has one writer at a time, so
	// concurrent callers (other processes) simply take turns.
	sqlDeleteFinishedBefore = `DELETE FROM process_store WHERE correlation_id IN (
  SELECT correlation_id FROM process_store
  WHERE status IN ('DONE', 'ERROR') AND updated_at < ?1
  ORDER BY updated_at LIMIT ?2)`

	sqlExpirePendingBefore = `UPDATE process_store SET status = 'ERROR', error_json = ?3, ` + bumpUpdatedAt + `
WHERE status = 'PENDING' AND correlation_id IN (
  SELECT correlation_id FROM process_store
  WHERE status = 'PENDING' AND started_at < ?1
  ORDER BY started_at LIMIT ?2)`
)
