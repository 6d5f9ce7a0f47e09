// Package processes is the catalogue of the BPMN processes this worker serves: their
// embedded models (Models, Deploy) and their handlers (RegisterAll). Each process lives in a
// subpackage that owns its model and handlers; adding one means adding it here.
package processes

import (
	"context"

	"github.com/camunda-waitroom/camunda-waitroom/processes/onboarduser"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/topics/result"
)

// Model is one embedded BPMN model.
type Model struct {
	// Name is the deployment resource name (e.g. onboard-user.bpmn).
	Name string
	// Key is the process definition key (the BPMN process id) the model deploys: what the
	// HTTP API may start by default (http.startableProcesses).
	Key  string
	Data []byte
}

// Models lists every embedded model.
func Models() []Model {
	return []Model{
		{Name: onboarduser.ModelName, Key: onboarduser.ProcessKey, Data: onboarduser.BPMN},
	}
}

// Keys lists the process definition keys of the embedded models: the default allow-list of
// the HTTP API's starts.
func Keys() []string {
	var out []string
	for _, m := range Models() {
		out = append(out, m.Key)
	}
	return out
}

// RegisterAll registers every process's handlers and the generic "result" handler; those
// that finish process_store rows write through f (nil: building them fails).
func RegisterAll(reg *topics.Registry, f result.Finisher) {
	reg.Register(result.Name, result.Factory(f))
	onboarduser.Register(reg, f)
}

// DeploymentName is the name of the deployment Deploy creates; the engine's duplicate
// filtering compares resources within deployments of the same name.
const DeploymentName = "camunda-waitroom"

// Deploy deploys every embedded model in one deployment, changed resources only: unchanged
// models create nothing, a changed one gets a new version (camunda.deployOnStart).
func Deploy(ctx context.Context, cfg topics.Options, opts ...topics.Option) (topics.Deployment, error) {
	var files []topics.Resource
	for _, m := range Models() {
		files = append(files, topics.Resource{Name: m.Name, Data: m.Data})
	}
	return topics.Deploy(ctx, cfg, DeploymentName, files, opts...)
}
