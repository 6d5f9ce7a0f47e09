package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/postgres"
	"github.com/camunda-waitroom/camunda-waitroom/repo/sqlite"
)

// openStore opens the driver's store on dsn as owner with at most pool connections (0: no
// limit), applying the migrations when migrate is set. Every statement the store sends
// through database/sql is counted in *counter (nil: not counted).
func openStore(ctx context.Context, drv, dsn, owner string, pool int, migrate bool, counter *atomic.Int64) (repo.Store, error) {
	opts := repo.Options{Driver: drv, DSN: dsn, Owner: owner}
	var (
		db  *sql.DB
		err error
	)
	switch drv {
	case repo.DriverSQLite:
		full, derr := sqlite.DSN(dsn)
		if derr != nil {
			return nil, derr
		}
		probe, _ := sql.Open(sqlite.DriverName, "")
		inner := probe.Driver()
		probe.Close()
		db = sql.OpenDB(&countingConnector{dsn: full, drv: inner, n: counter})
	case repo.DriverPostgres:
		db = sql.OpenDB(&countingConnector{dsn: dsn, drv: stdlib.GetDefaultDriver(), n: counter})
	default:
		return nil, fmt.Errorf("unknown driver %q", drv)
	}
	if pool > 0 {
		db.SetMaxOpenConns(pool)
		db.SetMaxIdleConns(pool)
	}
	var s repo.Store
	switch drv {
	case repo.DriverSQLite:
		s, err = sqlite.New(ctx, db, opts)
	default:
		s, err = postgres.New(ctx, db, opts)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if migrate {
		if err := migrations.Up(ctx, db, drv); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// countingConnector wraps a database/sql driver to count the statements sent (Exec and
// Query, direct or prepared).
type countingConnector struct {
	dsn string
	drv driver.Driver
	n   *atomic.Int64
}

func (c *countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	var conn driver.Conn
	var err error
	if dc, ok := c.drv.(driver.DriverContext); ok {
		var ctr driver.Connector
		if ctr, err = dc.OpenConnector(c.dsn); err == nil {
			conn, err = ctr.Connect(ctx)
		}
	} else {
		conn, err = c.drv.Open(c.dsn)
	}
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, n: c.n}, nil
}

func (c *countingConnector) Driver() driver.Driver { return c.drv }

type countingConn struct {
	driver.Conn
	n *atomic.Int64
}

func (c *countingConn) count() {
	if c.n != nil {
		c.n.Add(1)
	}
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.count()
	return e.ExecContext(ctx, q, args)
}

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.count()
	return qc.QueryContext(ctx, q, args)
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if pc, ok := c.Conn.(driver.ConnPrepareContext); ok {
		st, err = pc.PrepareContext(ctx, q)
	} else {
		st, err = c.Conn.Prepare(q)
	}
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: st, c: c}, nil
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	//lint:ignore SA1019 a driver without ConnBeginTx has only Begin
	return c.Conn.Begin()
}

func (c *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (c *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *countingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *countingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

type countingStmt struct {
	driver.Stmt
	c *countingConn
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.c.count()
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	return nil, driver.ErrSkip
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.c.count()
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	return nil, driver.ErrSkip
}

func (s *countingStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}
