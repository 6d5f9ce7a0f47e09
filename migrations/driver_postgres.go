package migrations

import (
	"context"
	"fmt"
	"strconv"

	"github.com/golang-migrate/migrate/v4/database"
)

// postgresDialect locks like golang-migrate's pgx/v5 driver: pg_advisory_lock on one session,
// keyed by GenerateAdvisoryLockId(database, schema, table), which waits until the holder
// unlocks or its session ends. The migration files run one at a time through the simple query
// protocol, where a multi-statement string is one implicit transaction.
var postgresDialect = &dialect{
	lock: func(ctx context.Context, c *connDriver) error {
		var dbName string
		var schema *string
		if err := c.conn.QueryRowContext(ctx, `SELECT current_database(), current_schema()`).Scan(&dbName, &schema); err != nil {
			return err
		}
		if schema == nil {
			return fmt.Errorf("no current schema: the connection's search_path names no existing schema")
		}
		id, err := database.GenerateAdvisoryLockId(dbName, *schema, Table)
		if err != nil {
			return err
		}
		key, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return err
		}
		if _, err := c.conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
			return err
		}
		c.state = key
		return nil
	},
	unlock: func(ctx context.Context, c *connDriver, _ bool) error {
		_, err := c.conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, c.state)
		return err
	},
	tableExists:   `SELECT to_regclass('` + Table + `') IS NOT NULL`,
	createTable:   `CREATE TABLE IF NOT EXISTS ` + Table + ` (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)`,
	selectVersion: `SELECT version, dirty FROM ` + Table + ` LIMIT 1`,
	deleteVersion: `DELETE FROM ` + Table,
	insertVersion: `INSERT INTO ` + Table + ` (version, dirty) VALUES ($1, $2)`,
}
