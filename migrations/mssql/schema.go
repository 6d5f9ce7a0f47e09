// Package mssql is the SQL Server schema of process_store: the embedded migration files
// (NNN_name.up.sql, applied in order by package migrations, each as one batch, so they
// contain no GO separators) and how package migrations locks and records versions on SQL
// Server. The store (repo/mssql) exposes the files as its MigrationFS.
package mssql

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/camunda-waitroom/camunda-waitroom/migrations/internal/dialect"
)

//go:embed *.sql
var files embed.FS

// FS returns the migration files.
func FS() fs.FS { return files }

// Dialect locks like golang-migrate's sqlserver driver (database/sqlserver/sqlserver.go, Lock
// and Unlock, read for this port): sp_getapplock with @LockMode = 'Exclusive', @LockOwner =
// 'Session', @LockTimeout = -1, so a second process waits until the first releases the lock
// or its session ends; cancelling ctx aborts the wait. Unlike that driver, which hashes the
// database name with the login's default schema, the resource is the fixed lockResource:
// every table here is dbo.*, so two logins with different default schemas migrate the same
// tables and must take the same lock (application locks are scoped to the current database
// already). No SQL Server runs in the tests: schema_test.go checks the statements as text.
var Dialect = dialect.Dialect{
	Name: "mssql",
	FS:   files,
	Lock: func(ctx context.Context, conn *sql.Conn, _ dialect.LockID) (func(context.Context, bool) error, error) {
		var status int
		if err := conn.QueryRowContext(ctx, lockSQL, lockResource).Scan(&status); err != nil {
			return nil, err
		}
		if status < 0 {
			return nil, fmt.Errorf("sp_getapplock returned %d (-1 timeout, -2 cancelled, -3 deadlock victim, -999 error)", status)
		}
		return func(ctx context.Context, _ bool) error {
			_, err := conn.ExecContext(ctx, unlockSQL, lockResource)
			return err
		}, nil
	},
	TableExists: `SELECT CAST(CASE WHEN OBJECT_ID(N'dbo.` + dialect.Table + `', N'U') IS NULL THEN 0 ELSE 1 END AS BIT)`,
	CreateTable: `IF OBJECT_ID(N'dbo.` + dialect.Table + `', N'U') IS NULL
  CREATE TABLE dbo.` + dialect.Table + ` (version BIGINT NOT NULL PRIMARY KEY, dirty BIT NOT NULL)`,
	SelectVersion: `SELECT TOP 1 version, dirty FROM dbo.` + dialect.Table,
	DeleteVersion: `DELETE FROM dbo.` + dialect.Table,
	InsertVersion: `INSERT INTO dbo.` + dialect.Table + ` (version, dirty) VALUES (@p1, @p2)`,
}

// The lock statements, as golang-migrate's sqlserver driver sends them, and the one resource
// they lock.
const (
	lockResource = "camunda-waitroom/dbo." + dialect.Table
	lockSQL      = `DECLARE @lockResult int;
EXEC @lockResult = sp_getapplock @Resource = @p1, @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = -1;
SELECT @lockResult;`
	unlockSQL = `EXEC sp_releaseapplock @Resource = @p1, @LockOwner = 'Session'`
)
