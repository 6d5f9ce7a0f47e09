package migrations

import (
	"context"
	"errors"
	"strconv"
)

// sqliteBusyTimeout is how long Up waits for another writer (another process migrating, or
// the application writing) to release SQLite's write lock.
const sqliteBusyTimeout = 30000 // milliseconds

// sqliteDialect has no advisory lock to borrow, and golang-migrate's sqlite driver only locks
// within one process. Here the lock is SQLite's own write lock: BEGIN IMMEDIATE, which other
// connections and processes wait for through busy_timeout. Up reads the version, applies the
// migrations and records the version inside that one transaction (SQLite DDL is
// transactional), and Unlock commits it, or rolls it back after a failure, so a failed Up
// leaves neither half a migration nor a dirty flag, and a second process starts only after
// the first committed and finds nothing to do.
var sqliteDialect = &dialect{
	lock: func(ctx context.Context, c *connDriver) error {
		var old int
		if err := c.conn.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&old); err != nil {
			return err
		}
		if _, err := c.conn.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.Itoa(sqliteBusyTimeout)); err != nil {
			return err
		}
		c.state = old
		if _, err := c.conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
			return errors.Join(err, restoreBusyTimeout(ctx, c))
		}
		return nil
	},
	unlock: func(ctx context.Context, c *connDriver, failed bool) error {
		end := `COMMIT`
		if failed {
			end = `ROLLBACK`
		}
		_, err := c.conn.ExecContext(ctx, end)
		return errors.Join(err, restoreBusyTimeout(ctx, c))
	},
	tableExists: `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '` + Table + `'`,
	// golang-migrate's sqlite layout, with an index name of our own.
	createTable: `CREATE TABLE IF NOT EXISTS ` + Table + ` (version uint64, dirty bool);
CREATE UNIQUE INDEX IF NOT EXISTS ` + Table + `_version ON ` + Table + ` (version);`,
	selectVersion:   `SELECT version, dirty FROM ` + Table + ` LIMIT 1`,
	deleteVersion:   `DELETE FROM ` + Table,
	insertVersion:   `INSERT INTO ` + Table + ` (version, dirty) VALUES (?, ?)`,
	versionInLockTx: true,
}

func restoreBusyTimeout(ctx context.Context, c *connDriver) error {
	old, ok := c.state.(int)
	if !ok {
		return nil
	}
	_, err := c.conn.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.Itoa(old))
	return err
}
