// Package postgres is the PostgreSQL schema of process_store: the embedded migration files
// (NNN_name.up.sql, applied in order by package migrations) and how package migrations locks
// and records versions on PostgreSQL. The store (repo/postgres) exposes the files as its
// MigrationFS.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/camunda-waitroom/camunda-waitroom/migrations/internal/dialect"
)

//go:embed *.sql
var files embed.FS

// FS returns the migration files.
func FS() fs.FS { return files }

// Dialect locks like golang-migrate's pgx/v5 driver: pg_advisory_lock on one session, keyed
// by GenerateAdvisoryLockId(database, schema, table), which waits until the holder unlocks or
// its session ends. The migration files run one at a time through the simple query protocol,
// where a multi-statement string is one implicit transaction.
var Dialect = dialect.Dialect{
	Name: "postgres",
	FS:   files,
	Lock: func(ctx context.Context, conn *sql.Conn, lockID dialect.LockID) (func(context.Context, bool) error, error) {
		var dbName string
		var schema *string
		if err := conn.QueryRowContext(ctx, `SELECT current_database(), current_schema()`).Scan(&dbName, &schema); err != nil {
			return nil, err
		}
		if schema == nil {
			return nil, fmt.Errorf("no current schema: the connection's search_path names no existing schema")
		}
		id, err := lockID(dbName, *schema, dialect.Table)
		if err != nil {
			return nil, err
		}
		key, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, err
		}
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
			return nil, err
		}
		return func(ctx context.Context, _ bool) error {
			_, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, key)
			return err
		}, nil
	},
	TableExists:   `SELECT to_regclass('` + dialect.Table + `') IS NOT NULL`,
	CreateTable:   `CREATE TABLE IF NOT EXISTS ` + dialect.Table + ` (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)`,
	SelectVersion: `SELECT version, dirty FROM ` + dialect.Table + ` LIMIT 1`,
	DeleteVersion: `DELETE FROM ` + dialect.Table,
	InsertVersion: `INSERT INTO ` + dialect.Table + ` (version, dirty) VALUES ($1, $2)`,
}
