package config

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADMEDocumentsEveryKey keeps README.md's configuration table complete: every key of the
// embedded config.yaml, with each of its environment names.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	lines := strings.Split(string(readme), "\n")
	for _, key := range Keys() {
		var row string
		for _, l := range lines {
			if strings.HasPrefix(l, "| `"+key+"` |") {
				row = l
				break
			}
		}
		require.NotEmpty(t, row, "README.md has no table row for key %s", key)
		for _, env := range EnvNames(key) {
			require.Contains(t, row, "`"+env+"`", "README.md row of %s lacks env name %s", key, env)
		}
	}
}
