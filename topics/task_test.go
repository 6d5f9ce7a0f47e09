package topics

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTaskTypedAccessors(t *testing.T) {
	t.Parallel()
	file, err := FileVar("a.txt", "text/plain", []byte("x"))
	require.NoError(t, err)
	task := &Task{Variables: map[string]Variable{
		"s": StringVar("x"), "b": BoolVar(true), "l": LongVar(math.MaxInt64),
		"l53": {Type: "Long", Value: json.RawMessage(`9007199254740993`)}, "d": DoubleVar(2.5),
		"t":  {Type: "Date", Value: json.RawMessage(`"2026-01-02T03:04:05.678+0530"`)},
		"by": BytesVar([]byte{1, 2}), "x": {Type: "Xml", Value: json.RawMessage(`"<a/>"`)},
		"nl": {Type: "Long", Value: json.RawMessage(`null`)}, "f": file,
	}}
	s, err := task.Text("s")
	require.NoError(t, err)
	assert.Equal(t, "x", s)
	b, err := task.Bool("b")
	require.NoError(t, err)
	assert.True(t, b)
	n, err := task.Long("l")
	require.NoError(t, err)
	assert.Equal(t, int64(math.MaxInt64), n)
	n, err = task.Long("l53")
	require.NoError(t, err)
	assert.Equal(t, int64(1<<53+1), n)
	f, err := task.Double("d")
	require.NoError(t, err)
	assert.Equal(t, 2.5, f)
	d, err := task.Date("t")
	require.NoError(t, err)
	assert.True(t, d.Equal(time.Date(2026, 1, 1, 21, 34, 5, 678e6, time.UTC)))
	by, err := task.Bytes("by")
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2}, by)
	x, err := task.XML("x")
	require.NoError(t, err)
	assert.Equal(t, "<a/>", x)

	_, err = task.Long("missing")
	assert.ErrorIs(t, err, ErrNoVariable)
	assert.ErrorContains(t, err, `variable "missing"`)
	_, err = task.Long("nl")
	assert.ErrorIs(t, err, ErrNullValue)
	assert.ErrorContains(t, err, `variable "nl"`)
	_, err = task.Long("d")
	assert.ErrorIs(t, err, ErrVariableType)
	assert.ErrorContains(t, err, `variable "d": unsupported variable type: the variable is Double, want Short, Integer or Long`)
	_, err = task.File(context.Background(), "s", 10)
	assert.ErrorIs(t, err, ErrVariableType)
	_, err = task.File(context.Background(), "f", 10)
	assert.ErrorContains(t, err, "no engine connection", "a Task not made by the runtime cannot download")
}
