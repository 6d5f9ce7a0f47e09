package migrations

import (
	"context"
	"fmt"

	"github.com/golang-migrate/migrate/v4/database"
)

// mssqlDialect locks like golang-migrate's sqlserver driver (database/sqlserver/sqlserver.go,
// Lock and Unlock, read for this port): sp_getapplock with @LockMode = 'Exclusive',
// @LockOwner = 'Session', @LockTimeout = -1, so a second process waits until the first
// releases the lock or its session ends; cancelling ctx aborts the wait. Each file runs as one
// batch, so the files contain no GO separators. Not run here: SQL Server cannot run on the
// development machine; mssql_test.go checks the statements as text.
var mssqlDialect = &dialect{
	lock: func(ctx context.Context, c *connDriver) error {
		var dbName, schema string
		if err := c.conn.QueryRowContext(ctx, `SELECT DB_NAME(), SCHEMA_NAME()`).Scan(&dbName, &schema); err != nil {
			return err
		}
		resource, err := database.GenerateAdvisoryLockId(dbName, schema, Table)
		if err != nil {
			return err
		}
		var status int
		if err := c.conn.QueryRowContext(ctx, mssqlLock, resource).Scan(&status); err != nil {
			return err
		}
		if status < 0 {
			return fmt.Errorf("sp_getapplock returned %d (-1 timeout, -2 cancelled, -3 deadlock victim, -999 error)", status)
		}
		c.state = resource
		return nil
	},
	unlock: func(ctx context.Context, c *connDriver, _ bool) error {
		_, err := c.conn.ExecContext(ctx, mssqlUnlock, c.state)
		return err
	},
	tableExists: `SELECT CAST(CASE WHEN OBJECT_ID(N'dbo.` + Table + `', N'U') IS NULL THEN 0 ELSE 1 END AS BIT)`,
	createTable: `IF OBJECT_ID(N'dbo.` + Table + `', N'U') IS NULL
  CREATE TABLE dbo.` + Table + ` (version BIGINT NOT NULL PRIMARY KEY, dirty BIT NOT NULL)`,
	selectVersion: `SELECT TOP 1 version, dirty FROM dbo.` + Table,
	deleteVersion: `DELETE FROM dbo.` + Table,
	insertVersion: `INSERT INTO dbo.` + Table + ` (version, dirty) VALUES (@p1, @p2)`,
}

// The lock statements, as golang-migrate's sqlserver driver sends them.
const (
	mssqlLock = `DECLARE @lockResult int;
EXEC @lockResult = sp_getapplock @Resource = @p1, @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = -1;
SELECT @lockResult;`
	mssqlUnlock = `EXEC sp_releaseapplock @Resource = @p1, @LockOwner = 'Session'`
)
