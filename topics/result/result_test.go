package result

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
)

// fakeFinisher records calls and answers with preset outcomes; it checks only the
// classification logic here. The behaviour against a real store and engine is tested in
// processes/onboarduser.
type fakeFinisher struct {
	outcome   repo.Outcome
	err       error
	inserted  bool
	insertErr error
	calls     []string
	bodies    []string
}

func (f *fakeFinisher) Complete(_ context.Context, id string, p json.RawMessage) (repo.Outcome, error) {
	f.calls = append(f.calls, "complete "+id)
	f.bodies = append(f.bodies, string(p))
	return f.outcome, f.err
}

func (f *fakeFinisher) Fail(_ context.Context, id string, b json.RawMessage) (repo.Outcome, error) {
	f.calls = append(f.calls, "fail "+id)
	f.bodies = append(f.bodies, string(b))
	return f.outcome, f.err
}

func (f *fakeFinisher) InsertFinished(_ context.Context, id string, s repo.Status, b json.RawMessage) (bool, error) {
	f.calls = append(f.calls, fmt.Sprintf("insert %s %s", id, s))
	return f.inserted, f.insertErr
}

func str(s string) topics.Variable { return topics.StringVar(s) }

func jsonVar(t *testing.T, doc string) topics.Variable {
	v, err := topics.RawJSONVar(json.RawMessage(doc))
	require.NoError(t, err)
	return v
}

func retriesOf(t *testing.T, err error) *int {
	t.Helper()
	var f *topics.Failure
	if errors.As(err, &f) {
		return f.Retries
	}
	return nil
}

func TestHandle(t *testing.T) {
	t.Parallel()
	cfg := Options{CorrelationVariable: "correlationId", Variables: []string{"accountId", "user", "absent"}, ErrorVariable: "error"}
	base := func() map[string]topics.Variable {
		return map[string]topics.Variable{
			"correlationId": str("c-1"),
			"accountId":     str("acc-1"),
			"user":          jsonVar(t, `{"name":"Ann"}`),
		}
	}
	tests := []struct {
		name        string
		cfg         Options
		vars        func() map[string]topics.Variable
		fin         fakeFinisher
		wantCalls   []string
		wantBody    string
		wantErr     string
		wantRetries *int // nil: default retries (or no error)
		permanent   bool
	}{
		{name: "done", cfg: cfg, vars: base, fin: fakeFinisher{outcome: repo.Transitioned},
			wantCalls: []string{"complete c-1"}, wantBody: `{"absent":null,"accountId":"acc-1","user":{"name":"Ann"}}`},
		{name: "already finished is success", cfg: cfg, vars: base, fin: fakeFinisher{outcome: repo.AlreadyFinished},
			wantCalls: []string{"complete c-1"}},
		{name: "error variable makes ERROR", cfg: cfg, vars: func() map[string]topics.Variable {
			v := base()
			v["error"] = jsonVar(t, `{"code":"INVALID_INPUT"}`)
			return v
		}, fin: fakeFinisher{outcome: repo.Transitioned}, wantCalls: []string{"fail c-1"}, wantBody: `{"code":"INVALID_INPUT"}`},
		{name: "null error variable is no error", cfg: cfg, vars: func() map[string]topics.Variable {
			v := base()
			v["error"] = topics.NullVar()
			return v
		}, fin: fakeFinisher{outcome: repo.Transitioned}, wantCalls: []string{"complete c-1"}},
		{name: "all variables when none listed", cfg: Options{CorrelationVariable: "correlationId", ErrorVariable: "error"}, vars: base,
			fin: fakeFinisher{outcome: repo.Transitioned}, wantCalls: []string{"complete c-1"}, wantBody: `{"accountId":"acc-1","user":{"name":"Ann"}}`},
		{name: "no correlation id", cfg: cfg, vars: func() map[string]topics.Variable { v := base(); delete(v, "correlationId"); return v },
			wantErr: `"correlationId"`, permanent: true},
		{name: "invalid correlation id", cfg: cfg, vars: func() map[string]topics.Variable { v := base(); v["correlationId"] = str("a b"); return v },
			wantErr: `"correlationId"`, permanent: true},
		{name: "missing row: insert", cfg: cfg, vars: base, fin: fakeFinisher{outcome: repo.NotFound, inserted: true},
			wantCalls: []string{"complete c-1", "insert c-1 DONE"}},
		{name: "missing row: insert races a registration", cfg: cfg, vars: base, fin: fakeFinisher{outcome: repo.NotFound, inserted: false},
			wantCalls: []string{"complete c-1", "insert c-1 DONE", "complete c-1"}},
		{name: "missing row: insert conflicts with an id differing in case", cfg: cfg, vars: base,
			fin:       fakeFinisher{outcome: repo.NotFound, insertErr: fmt.Errorf("insert finished c-1: %w", repo.ErrIDConflict)},
			wantCalls: []string{"complete c-1", "insert c-1 DONE"}, wantErr: "letter case", permanent: true},
		{name: "missing row: ignore", cfg: withMissing(cfg, MissingRowIgnore), vars: base, fin: fakeFinisher{outcome: repo.NotFound},
			wantCalls: []string{"complete c-1"}},
		{name: "missing row: fail", cfg: withMissing(cfg, MissingRowFail), vars: base, fin: fakeFinisher{outcome: repo.NotFound},
			wantCalls: []string{"complete c-1"}, wantErr: "no process_store row", permanent: true},
		{name: "too large", cfg: cfg, vars: base, fin: fakeFinisher{err: fmt.Errorf("complete: %w", repo.ErrTooLarge)},
			wantCalls: []string{"complete c-1"}, wantErr: "refused the payload", permanent: true},
		{name: "invalid JSON", cfg: cfg, vars: base, fin: fakeFinisher{err: repo.ErrInvalidJSON},
			wantCalls: []string{"complete c-1"}, wantErr: "refused", permanent: true},
		{name: "store down is retried", cfg: cfg, vars: base, fin: fakeFinisher{err: errors.New("connection refused")},
			wantCalls: []string{"complete c-1"}, wantErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fin := tt.fin
			h, err := New(tt.cfg, &fin, nil)
			require.NoError(t, err)
			_, err = h.Handle(context.Background(), &topics.Task{ID: "t1", Topic: "x", Variables: tt.vars()})
			if tt.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tt.wantErr)
				if tt.permanent {
					require.NotNil(t, retriesOf(t, err), "retries 0 expected")
					assert.Equal(t, 0, *retriesOf(t, err))
				} else {
					assert.Nil(t, retriesOf(t, err), "default retries expected")
				}
			}
			assert.Equal(t, tt.wantCalls, fin.calls)
			if tt.wantBody != "" {
				require.NotEmpty(t, fin.bodies)
				assert.JSONEq(t, tt.wantBody, fin.bodies[0])
			}
		})
	}
}

func withMissing(c Options, m string) Options { c.OnMissingRow = m; return c }

func TestNewNeedsFinisher(t *testing.T) {
	t.Parallel()
	_, err := Factory(nil)(topics.Topic{Name: "x"}, topics.Deps{})
	assert.ErrorContains(t, err, "Finisher is nil")
	_, err = New(Options{OnMissingRow: "later"}, &fakeFinisher{}, nil)
	assert.ErrorContains(t, err, "OnMissingRow")
}

// The factory takes each topic's settings from its HandlerOptions, with the defaults for
// what is left out, and refuses settings of another handler.
func TestFactoryReadsHandlerOptions(t *testing.T) {
	t.Parallel()
	f := Factory(&fakeFinisher{})
	h, err := f(topics.Topic{Name: "x", HandlerOptions: Options{ErrorVariable: "err"}}, topics.Deps{})
	require.NoError(t, err)
	assert.Equal(t, Options{CorrelationVariable: CorrelationVariableDefault, ErrorVariable: "err", OnMissingRow: MissingRowInsert}, h.(*Handler).cfg)
	h, err = f(topics.Topic{Name: "x"}, topics.Deps{})
	require.NoError(t, err)
	assert.Equal(t, Options{}.WithDefaults(), h.(*Handler).cfg)
	_, err = f(topics.Topic{Name: "x", HandlerOptions: 42}, topics.Deps{})
	assert.ErrorContains(t, err, "HandlerOptions is a int")
}
