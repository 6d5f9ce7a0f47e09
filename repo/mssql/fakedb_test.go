package mssql

// A scripted database/sql driver for the Go side of the store: what New does with the
// answer of sys.databases, what Create and InsertFinished do with a duplicate key or no
// row, what retry does with transient errors, which arguments reach the driver. It speaks
// no TDS and runs no SQL: each call is answered by the test's function from the statement
// text and the arguments, so it shows what the store sends and how it reads answers, never
// what SQL Server does with them. Written by hand because go-sqlmock matches statements by
// regular expression in a fixed order and hides the argument values' Go types behind its
// own converter, which is exactly what these tests check.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAnswer is the answer to one statement: rows (with column names), or an error.
type fakeAnswer struct {
	cols []string
	rows [][]driver.Value
	err  error
}

// fakeCall is one statement the store sent.
type fakeCall struct {
	query string
	args  map[string]any // by parameter name, the value as the driver received it
}

// fakeDB records calls and answers them with answer.
type fakeDB struct {
	mu     sync.Mutex
	calls  []fakeCall
	answer func(call fakeCall, n int) fakeAnswer // n: how many calls of this statement came before
}

// settingsRow answers sqlSettings.
func settingsRow(name string, level int, rcsi bool, collation string, style int64) fakeAnswer {
	return fakeAnswer{
		cols: []string{"name", "compatibility_level", "is_read_committed_snapshot_on", "collation", "style"},
		rows: [][]driver.Value{{name, int64(level), rcsi, collation, style}},
	}
}

// caseInsensitiveStyle is COLLATIONPROPERTY(SQL_Latin1_General_CP1_CI_AS, 'ComparisonStyle'):
// ignore case, kana type and width.
const caseInsensitiveStyle = 196609

// newFakeDB returns a pool on a fake answering sqlSettings with a supported database and
// everything else with answer.
func newFakeDB(t *testing.T, answer func(call fakeCall, n int) fakeAnswer) (*sql.DB, *fakeDB) {
	t.Helper()
	f := &fakeDB{answer: func(c fakeCall, n int) fakeAnswer {
		if c.query == sqlSettings {
			return settingsRow("shop", 150, true, "SQL_Latin1_General_CP1_CI_AS", caseInsensitiveStyle)
		}
		return answer(c, n)
	}}
	db := sql.OpenDB(fakeConnector{f})
	t.Cleanup(func() { db.Close() })
	return db, f
}

// newFakeStore returns a store on a fake, with retry pauses of a millisecond.
func newFakeStore(t *testing.T, answer func(call fakeCall, n int) fakeAnswer) (*Store, *fakeDB) {
	t.Helper()
	return newFakeStoreRetry(t, retryPolicy{attempts: defaultRetry.attempts, pause: time.Millisecond, maxPause: 2 * time.Millisecond}, answer)
}

// newFakeStoreRetry returns a store on a fake, retrying by p.
func newFakeStoreRetry(t *testing.T, p retryPolicy, answer func(call fakeCall, n int) fakeAnswer) (*Store, *fakeDB) {
	t.Helper()
	db, f := newFakeDB(t, answer)
	s, err := newStore(context.Background(), db, optsFor("owner-1"), p)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, f
}

// callsOf returns the recorded calls of one statement.
func (f *fakeDB) callsOf(query string) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCall
	for _, c := range f.calls {
		if c.query == query {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeDB) run(query string, args []driver.NamedValue) fakeAnswer {
	c := fakeCall{query: query, args: map[string]any{}}
	for _, a := range args {
		c.args[a.Name] = a.Value
	}
	f.mu.Lock()
	n := 0
	for _, prev := range f.calls {
		if prev.query == query {
			n++
		}
	}
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	return f.answer(c, n)
}

type fakeConnector struct{ f *fakeDB }

func (c fakeConnector) Connect(context.Context) (driver.Conn, error) { return &fakeConn{f: c.f}, nil }
func (c fakeConnector) Driver() driver.Driver                        { return fakeDriver{} }

type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("fake: use the connector")
}

type fakeConn struct{ f *fakeDB }

var (
	_ driver.QueryerContext    = (*fakeConn)(nil)
	_ driver.ExecerContext     = (*fakeConn)(nil)
	_ driver.NamedValueChecker = (*fakeConn)(nil)
)

func (c *fakeConn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("fake: Prepare is not used")
}
func (c *fakeConn) Close() error              { return nil }
func (c *fakeConn) Begin() (driver.Tx, error) { return nil, errors.New("fake: no transactions") }

// CheckNamedValue passes every argument through as it is, so the test sees the Go type the
// store chose (mssql.VarChar, sql.NullString, ...).
func (c *fakeConn) CheckNamedValue(*driver.NamedValue) error { return nil }

func (c *fakeConn) QueryContext(_ context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	a := c.f.run(query, args)
	if a.err != nil {
		return nil, a.err
	}
	return &fakeRows{cols: a.cols, rows: a.rows}, nil
}

func (c *fakeConn) ExecContext(_ context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	a := c.f.run(query, args)
	if a.err != nil {
		return nil, a.err
	}
	return driver.RowsAffected(0), nil
}

type fakeRows struct {
	cols []string
	rows [][]driver.Value
}

func (r *fakeRows) Columns() []string { return r.cols }
func (r *fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if len(r.rows) == 0 {
		return io.EOF
	}
	copy(dest, r.rows[0])
	r.rows = r.rows[1:]
	return nil
}

// recordRow is one process_store row as the fake answers it.
func recordRow(id, status string, payload, errBody, owner any) fakeAnswer {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return fakeAnswer{
		cols: strings.Split(strings.ReplaceAll(columns, " ", ""), ","),
		rows: [][]driver.Value{{id, status, payload, errBody, owner, now, now}},
	}
}

// intRow is a one-row answer of integers (SELECT @@ROWCOUNT, ...).
func intRow(vals ...int64) fakeAnswer {
	row := make([]driver.Value, len(vals))
	cols := make([]string, len(vals))
	for i, v := range vals {
		row[i], cols[i] = v, "c"
	}
	return fakeAnswer{cols: cols, rows: [][]driver.Value{row}}
}

// noRows is an empty result.
var noRows = fakeAnswer{cols: strings.Split(strings.ReplaceAll(columns, " ", ""), ",")}
