package processes_test

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
	"github.com/camunda-waitroom/camunda-waitroom/processes"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/topics/result"
)

// TestModels checks every embedded model: well-formed XML, a .bpmn name, and
// camunda:historyTimeToLive on each process (7.24 refuses or warns without it).
func TestModels(t *testing.T) {
	t.Parallel()
	models := processes.Models()
	require.NotEmpty(t, models)
	for _, m := range models {
		assert.True(t, strings.HasSuffix(m.Name, ".bpmn"), m.Name)
		var doc struct {
			Processes []struct {
				ID  string `xml:"id,attr"`
				TTL string `xml:"http://camunda.org/schema/1.0/bpmn historyTimeToLive,attr"`
			} `xml:"process"`
		}
		require.NoError(t, xml.Unmarshal(m.Data, &doc), m.Name)
		require.NotEmpty(t, doc.Processes, m.Name)
		for _, p := range doc.Processes {
			assert.NotEmpty(t, p.TTL, "process %s in %s has no camunda:historyTimeToLive", p.ID, m.Name)
		}
		// Key is the process the model deploys: the default allow-list of HTTP starts.
		require.Len(t, doc.Processes, 1, "%s: one process per model, so Key names it", m.Name)
		assert.Equal(t, doc.Processes[0].ID, m.Key, m.Name)
		assert.Contains(t, processes.Keys(), m.Key)
	}
	assert.Len(t, processes.Keys(), len(models))
}

// TestRegisterAll: config.yaml's topics resolve to registered handlers.
func TestRegisterAll(t *testing.T) {
	t.Parallel()
	reg := topics.NewRegistry()
	processes.RegisterAll(reg, nil)
	names := reg.Names()
	assert.Contains(t, names, result.Name)
	assert.Contains(t, names, "onboard-user/create-account")
	assert.Contains(t, names, "onboard-user/prepare-response")

	// Without a store the result handlers refuse to start, naming the topic.
	_, err := topics.New(topics.Options{Engine: camunda.Config{URL: "http://127.0.0.1:1/engine-rest"}, WorkerID: "w"},
		[]topics.Topic{{Name: "onboard-user/prepare-response", Handler: "onboard-user/prepare-response"}},
		reg, topics.Deps{}, nil)
	assert.ErrorContains(t, err, `"onboard-user/prepare-response"`)
	assert.ErrorContains(t, err, "Finisher is nil")
}
