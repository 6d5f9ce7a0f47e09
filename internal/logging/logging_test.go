package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJSONComponentFields(t *testing.T) {
	var buf bytes.Buffer
	root, err := New(&buf, "info", "json")
	require.NoError(t, err)
	Component(root, "topics").Info("fetched", Topic("onboard-user/prepare-response"), TaskID("t1"), Err(errors.New("boom")))
	Component(root, "topics").Debug("hidden at info")
	require.NoError(t, root.Sync())

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 1, "debug must be filtered at level info")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &m))
	require.Equal(t, "topics", m["component"])
	require.Equal(t, "topics", m["logger"])
	require.Equal(t, "onboard-user/prepare-response", m["topic"])
	require.Equal(t, "t1", m["task_id"])
	require.Equal(t, "boom", m["err"])
}

func TestConsoleAndBadSettings(t *testing.T) {
	var buf bytes.Buffer
	root, err := New(&buf, "debug", "console")
	require.NoError(t, err)
	root.Debug("hello")
	require.Contains(t, buf.String(), "hello")
	require.False(t, json.Valid(bytes.TrimSpace(buf.Bytes())), "console format must not be JSON")

	_, err = New(&buf, "verbose", "json")
	require.ErrorContains(t, err, `"verbose"`)
	_, err = New(&buf, "info", "xml")
	require.ErrorContains(t, err, `"xml"`)
}
