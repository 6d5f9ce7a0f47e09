package migrations

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/golang-migrate/migrate/v4/database"

	"github.com/camunda-waitroom/camunda-waitroom/migrations/internal/dialect"
)

// connDriver is a golang-migrate database.Driver on one connection borrowed from the caller's
// pool. Unlike golang-migrate's drivers it never closes the pool: Up returns the connection
// (release), or discards it when it may still hold a session lock.
type connDriver struct {
	ctx  context.Context
	conn *sql.Conn
	d    *dialect.Dialect

	mu     sync.Mutex
	locked bool
	failed bool
	// hold keeps the lock from the engine's first Lock until release: Up runs one engine call
	// per migration (see Up), and the lock (on SQLite, the transaction) spans them all.
	hold bool
	// unlock releases the dialect's lock; set while locked.
	unlock func(ctx context.Context, failed bool) error
}

var _ database.Driver = (*connDriver)(nil)

// Open is not used: Up builds the driver on the caller's pool.
func (c *connDriver) Open(string) (database.Driver, error) {
	return nil, errors.New("migrations: open by URL is not supported; call migrations.Up")
}

// Close does nothing; Up releases the connection when the engine is done.
func (c *connDriver) Close() error { return nil }

// Lock takes the migration lock and creates the version table if it is missing.
func (c *connDriver) Lock() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.locked && c.hold {
		return nil
	}
	if c.locked {
		return database.ErrLocked
	}
	unlock, err := c.d.Lock(c.ctx, c.conn, database.GenerateAdvisoryLockId)
	if err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	c.unlock, c.locked, c.failed = unlock, true, false
	if err := c.ensureTable(); err != nil {
		c.failed = true
		return errors.Join(err, c.unlockLocked(c.ctx))
	}
	return nil
}

func (c *connDriver) ensureTable() error {
	var exists bool
	if err := c.conn.QueryRowContext(c.ctx, c.d.TableExists).Scan(&exists); err != nil {
		return fmt.Errorf("look for %s: %w", Table, err)
	}
	if exists {
		return nil
	}
	if _, err := c.conn.ExecContext(c.ctx, c.d.CreateTable); err != nil {
		return fmt.Errorf("create %s: %w", Table, err)
	}
	return nil
}

// Unlock releases the migration lock.
func (c *connDriver) Unlock() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.locked {
		return database.ErrNotLocked
	}
	if c.hold {
		return nil // released by release, after the last migration
	}
	return c.unlockLocked(c.ctx)
}

func (c *connDriver) unlockLocked(ctx context.Context) error {
	err := c.unlock(ctx, c.failed)
	if err == nil {
		c.locked, c.unlock = false, nil
	}
	return err
}

// Run executes one migration file as one request (several statements).
func (c *connDriver) Run(migration io.Reader) error {
	body, err := io.ReadAll(migration)
	if err != nil {
		return err
	}
	if _, err := c.conn.ExecContext(c.ctx, string(body)); err != nil {
		c.setFailed()
		return fmt.Errorf("migration failed: %w", err)
	}
	return nil
}

func (c *connDriver) setFailed() {
	c.mu.Lock()
	c.failed = true
	c.mu.Unlock()
}

// SetVersion records version and the dirty flag as the table's only row.
func (c *connDriver) SetVersion(version int, dirty bool) (err error) {
	defer func() {
		if err != nil {
			c.setFailed()
		}
	}()
	write := func(ex interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}) error {
		if _, err := ex.ExecContext(c.ctx, c.d.DeleteVersion); err != nil {
			return fmt.Errorf("set version: %w", err)
		}
		// As golang-migrate's drivers: a NilVersion row is kept only when it is dirty.
		if version >= 0 || (version == database.NilVersion && dirty) {
			if _, err := ex.ExecContext(c.ctx, c.d.InsertVersion, int64(version), dirty); err != nil {
				return fmt.Errorf("set version: %w", err)
			}
		}
		return nil
	}
	if c.d.VersionInLockTx {
		return write(c.conn)
	}
	tx, err := c.conn.BeginTx(c.ctx, nil)
	if err != nil {
		return fmt.Errorf("set version: %w", err)
	}
	if err := write(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// Version reads the recorded version; database.NilVersion when none is.
func (c *connDriver) Version() (int, bool, error) {
	var v int64
	var dirty bool
	switch err := c.conn.QueryRowContext(c.ctx, c.d.SelectVersion).Scan(&v, &dirty); {
	case errors.Is(err, sql.ErrNoRows):
		return database.NilVersion, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("read %s: %w", Table, err)
	}
	return int(v), dirty, nil
}

// Drop is not supported: this package never drops the table that holds waits.
func (c *connDriver) Drop() error {
	return errors.New("migrations: drop is not supported")
}

// release ends the driver's use of the connection: it unlocks if the engine did not (after a
// failure), and returns the connection to the pool, or discards it when unlocking failed so
// that no pooled session keeps a migration lock or an open transaction.
func (c *connDriver) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if c.locked {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 10*time.Second)
		err = c.unlockLocked(ctx)
		cancel()
	}
	if c.locked {
		// driver.ErrBadConn from Raw makes database/sql close the connection.
		_ = c.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	return errors.Join(err, c.conn.Close())
}
