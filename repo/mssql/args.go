package mssql

import (
	"database/sql"
	"encoding/json"
	"time"

	"github.com/golang-sql/civil"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/internal/sqlutil"
)

// The argument builders of the statements in sql.go. Types matter here: go-mssqldb sends a
// Go string as NVARCHAR, and comparing the VARCHAR(64) key with an NVARCHAR parameter
// converts the column and turns an index seek into a scan. Keys, owners and statuses go as
// mssql.VarChar; bodies, for the NVARCHAR(MAX) columns, as mssql.NVarCharMax (one plan
// whatever their length); the JSON id array as mssql.VarCharMax: VARCHAR like the keys it
// holds, and MAX so its length, different on every call, does not make a new plan each time.
// No argument is ever a bare nil: go-mssqldb sends nil as an untyped NULL (TDS type 0x1F),
// which SQL Server accepts but other TDS servers refuse; a NULL body is nullBody, a typed
// NVARCHAR NULL.

func idArg(id string) sql.NamedArg { return sql.Named("id", mssql.VarChar(id)) }

// nullBody is a NULL payload or error body: sql.NullString, which go-mssqldb sends as a
// typed NVARCHAR(4000) NULL (assignable to the NVARCHAR(MAX) columns).
var nullBody = sql.NullString{}

// bodyArg is a payload or error body; nil is a typed NULL.
func bodyArg(name string, body []byte) sql.NamedArg {
	if body == nil {
		return sql.Named(name, nullBody)
	}
	return sql.Named(name, mssql.NVarCharMax(body))
}

// cutoffArg is a cutoff as DATETIME2 (civil.DateTime: go-mssqldb sends time.Time as
// DATETIMEOFFSET, which the column would be converted to). Rounded up to DATETIME2's 100 ns
// so that "column < cutoff" keeps its meaning.
func cutoffArg(t time.Time) sql.NamedArg {
	return sql.Named("cutoff", civil.DateTimeOf(sqlutil.CeilUTC(t, 100*time.Nanosecond)))
}

func argsCreate(id, owner string) []any {
	return []any{idArg(id), sql.Named("owner", mssql.VarChar(owner))}
}

func argsTransition(id string, body []byte) []any {
	return []any{idArg(id), bodyArg("body", body)}
}

func argsID(id string) []any { return []any{idArg(id)} }

func argsInsertFinished(id string, status repo.Status, payload, errBody []byte) []any {
	return []any{idArg(id), sql.Named("status", mssql.VarChar(status)), bodyArg("payload", payload), bodyArg("error", errBody)}
}

// argsStatuses returns the arguments of one sqlStatuses: a chunk of at most
// repo.StatusesChunkSize ids (repo.SQLStore chunks) as one JSON array.
func argsStatuses(ids []string) ([]any, error) {
	arr, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	return []any{sql.Named("ids", mssql.VarCharMax(arr))}, nil
}

// argsList returns the statement and arguments of one List read of opts.Limit rows.
func argsList(opts repo.ListOptions) (string, []any) {
	args := []any{sql.Named("limit", int64(opts.Limit)), sql.Named("after", mssql.VarChar(opts.After))}
	if opts.Status == "" {
		return sqlList, args
	}
	return sqlListStatus, append(args, sql.Named("status", mssql.VarChar(opts.Status)))
}

func argsClearOwned(owner string, body []byte) []any {
	return []any{sql.Named("owner", mssql.VarChar(owner)), bodyArg("body", body)}
}

func argsDeleteFinished(cutoff time.Time, batch int) []any {
	return []any{cutoffArg(cutoff), sql.Named("batch", int64(batch))}
}

func argsExpirePending(cutoff time.Time, batch int, body []byte) []any {
	return []any{cutoffArg(cutoff), sql.Named("batch", int64(batch)), bodyArg("body", body)}
}
