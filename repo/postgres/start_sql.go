package postgres

// The statements of the start protocol and the heartbeats (repo/start.go). Leases and ages are
// computed by the database clock (now()); Go only passes durations in milliseconds.

// startColumns is what ReadStart and BeginStart read, in the order scanStart expects: the
// record's columns, then the start columns, with the claim's attempt (0 for rows registered
// by Create) and the milliseconds its lease has left (0 once it ran out).
const startColumns = columns + `, process_key, process_instance_id, COALESCE(start_attempt, 0),
  COALESCE(GREATEST(0, CEIL(EXTRACT(EPOCH FROM (start_lease_until - now())) * 1000)), 0)::bigint`

const (
	// sqlBeginStart: $1 id, $2 owner, $3 process key, $4 lease in ms. Inserts or does nothing;
	// RETURNING yields the row only when this statement inserted it.
	sqlBeginStart = `INSERT INTO process_store (correlation_id, status, owner, process_key, start_attempt,
  start_lease_until, started_at, updated_at)
VALUES ($1, 'PENDING', $2, $3, 1, now() + $4 * interval '1 millisecond', now(), now())
ON CONFLICT (correlation_id) DO NOTHING
RETURNING ` + startColumns

	sqlReadStart = `SELECT ` + startColumns + ` FROM process_store WHERE correlation_id = $1`

	// sqlClaimStart: $1 id, $2 attempt read, $3 lease in ms, $4 owner. The guard is the whole
	// Startable condition plus the attempt: a competing claim, a recorded instance or a
	// finished row makes it match nothing. A concurrent claimer waits for the row lock and
	// re-checks the guard on the committed row (READ COMMITTED), so only one wins.
	sqlClaimStart = `UPDATE process_store
SET start_attempt = $2 + 1, start_lease_until = now() + $3 * interval '1 millisecond', owner = $4, ` + bumpUpdatedAt + `
WHERE correlation_id = $1 AND status = 'PENDING' AND process_key IS NOT NULL AND process_instance_id IS NULL
  AND COALESCE(start_attempt, 0) = $2 AND (start_lease_until IS NULL OR start_lease_until <= now())`

	// sqlReleaseStart: $1 id, $2 attempt. Ends the claim now (never extends it).
	sqlReleaseStart = `UPDATE process_store
SET start_lease_until = LEAST(start_lease_until, now()), ` + bumpUpdatedAt + `
WHERE correlation_id = $1 AND status = 'PENDING' AND process_instance_id IS NULL
  AND COALESCE(start_attempt, 0) = $2`

	// sqlSetInstance: $1 id, $2 instance id. Records the first instance only. When it matches
	// nothing, the store reads the row with sqlReadStart: a new statement, so it sees a
	// competing writer's committed instance.
	sqlSetInstance = `UPDATE process_store SET process_instance_id = $2, ` + bumpUpdatedAt + `
WHERE correlation_id = $1 AND process_instance_id IS NULL
RETURNING process_instance_id`

	// sqlBeat: $1 worker id.
	sqlBeat = `INSERT INTO process_store_heartbeat AS h (worker_id, started_at, beat_at) VALUES ($1, now(), now())
ON CONFLICT (worker_id) DO UPDATE SET beat_at = GREATEST(now(), h.beat_at)`

	sqlWorkers = `SELECT worker_id, GREATEST(0, FLOOR(EXTRACT(EPOCH FROM (now() - beat_at)) * 1000))::bigint
FROM process_store_heartbeat ORDER BY worker_id`

	// sqlForgetWorker: $1 worker id, $2 minimum age in ms.
	sqlForgetWorker = `DELETE FROM process_store_heartbeat
WHERE worker_id = $1 AND beat_at <= now() - $2 * interval '1 millisecond'`
)
