package topics

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
)

// sharingSample is how many locked tasks per topic the start-up check looks at.
const sharingSample = 100

// WarnSharedTopics looks, once the engine answers, at the tasks of our topics that workers
// hold locked, and warns about those that belong to another tenant than camunda.tenantId (or
// to a tenant at all, when none is set): another deployment uses our topic names on this
// engine, and the two take each other's tasks unless each fetches only its own tenant's.
//
// What the engine cannot show is another deployment without a tenant: its tasks and workers
// look like ours (worker ids are free-form), so the check stays silent then; README.md's
// "Security model" says to give each deployment a tenant id. It returns when the check is
// done or ctx ends.
func (r *Runtime) WarnSharedTopics(ctx context.Context) {
	for r.Ready() != nil {
		select {
		case <-ctx.Done():
			return
		case <-r.clock.After(time.Second):
		}
	}
	ours := r.cfg.TenantID
	names := make([]string, 0, len(r.subs))
	for name := range r.subs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, topic := range names {
		var tasks []struct {
			WorkerID string  `json:"workerId"`
			TenantID *string `json:"tenantId"`
		}
		q := url.Values{"topicName": {topic}, "locked": {"true"}, "maxResults": {strconv.Itoa(sharingSample)}}
		if err := r.eng.do(ctx, "list locked tasks", http.MethodGet, "/external-task?"+q.Encode(), 0, nil, "", &tasks); err != nil {
			if ctx.Err() == nil {
				r.log.Debug("cannot check whether other deployments use our topics", logging.Topic(topic), logging.Err(err))
			}
			return
		}
		workers := map[string]bool{}
		tenants := map[string]bool{}
		for _, t := range tasks {
			tenant := ""
			if t.TenantID != nil {
				tenant = *t.TenantID
			}
			if tenant == ours || t.WorkerID == r.cfg.WorkerID {
				continue
			}
			workers[t.WorkerID] = true
			if tenant == "" {
				tenant = "(none)"
			}
			tenants[tenant] = true
		}
		if len(workers) == 0 {
			continue
		}
		hint := "set camunda.tenantId on each deployment (or use topic names of its own): deployments that share an engine and topic names take each other's tasks"
		if ours != "" {
			hint = "this worker fetches only tenant " + ours + "'s tasks, but a worker of the other deployment that fetches without a tenant filter takes ours: give it a tenant id too"
		}
		r.log.Warn("another deployment's workers hold tasks on this worker's topic", logging.Topic(topic),
			zap.Strings("other_tenants", keys(tenants)), zap.Strings("other_worker_ids", keys(workers)), zap.String("hint", hint))
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
