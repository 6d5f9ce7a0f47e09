package sqlite

// The statements of the start protocol and the heartbeats (repo/start.go). Leases and beats
// are stored in the fixed-width UTC form of timeFormat and compared as strings; durations are
// passed as strftime modifiers ("+15.000 seconds"); ages and lease remainders come back in
// milliseconds, computed from julianday by the database clock.

// leaseLeftMS is the milliseconds the claim has left, 0 once it ran out or for no claim.
const leaseLeftMS = `COALESCE(max(0, CAST(round((julianday(start_lease_until) - julianday('now')) * 86400000) AS INTEGER)), 0)`

// startColumns is what ReadStart and BeginStart read, in the order scanStart expects.
const startColumns = columns + `, process_key, process_instance_id, COALESCE(start_attempt, 0), ` + leaseLeftMS

const (
	// sqlBeginStart: ?1 id, ?2 owner, ?3 process key, ?4 lease modifier. Inserts or does
	// nothing; RETURNING yields the row only when this statement inserted it.
	sqlBeginStart = `INSERT INTO process_store (correlation_id, status, owner, process_key, start_attempt,
  start_lease_until, started_at, updated_at)
VALUES (?1, 'PENDING', ?2, ?3, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?4), ` + nowUTC + `, ` + nowUTC + `)
ON CONFLICT (correlation_id) DO NOTHING
RETURNING ` + startColumns

	sqlReadStart = `SELECT ` + startColumns + ` FROM process_store WHERE correlation_id = ?1`

	// sqlClaimStart: ?1 id, ?2 attempt read, ?3 lease modifier, ?4 owner. SQLite has one
	// writer at a time, so the guard is evaluated on the latest row.
	sqlClaimStart = `UPDATE process_store
SET start_attempt = ?2 + 1, start_lease_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?3), owner = ?4, ` + bumpUpdatedAt + `
WHERE correlation_id = ?1 AND status = 'PENDING' AND process_key IS NOT NULL AND process_instance_id IS NULL
  AND COALESCE(start_attempt, 0) = ?2 AND (start_lease_until IS NULL OR start_lease_until <= ` + nowUTC + `)`

	// sqlReleaseStart: ?1 id, ?2 attempt. Ends the claim now (never extends it).
	sqlReleaseStart = `UPDATE process_store
SET start_lease_until = min(COALESCE(start_lease_until, ` + nowUTC + `), ` + nowUTC + `), ` + bumpUpdatedAt + `
WHERE correlation_id = ?1 AND status = 'PENDING' AND process_instance_id IS NULL
  AND COALESCE(start_attempt, 0) = ?2`

	// sqlSetInstance: ?1 id, ?2 instance id. Records the first instance only.
	sqlSetInstance = `UPDATE process_store SET process_instance_id = ?2, ` + bumpUpdatedAt + `
WHERE correlation_id = ?1 AND process_instance_id IS NULL`

	// sqlBeat: ?1 worker id.
	sqlBeat = `INSERT INTO process_store_heartbeat (worker_id, started_at, beat_at) VALUES (?1, ` + nowUTC + `, ` + nowUTC + `)
ON CONFLICT (worker_id) DO UPDATE SET beat_at = max(` + nowUTC + `, process_store_heartbeat.beat_at)`

	sqlWorkers = `SELECT worker_id, max(0, CAST((julianday('now') - julianday(beat_at)) * 86400000 AS INTEGER))
FROM process_store_heartbeat ORDER BY worker_id`

	// sqlForgetWorker: ?1 worker id, ?2 minimum age as a negative modifier.
	sqlForgetWorker = `DELETE FROM process_store_heartbeat
WHERE worker_id = ?1 AND beat_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?2)`
)
