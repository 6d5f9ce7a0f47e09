package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
)

// Errors a Starter returns. They sort the engine's answers by what they say about the
// process: definitely not started (ErrProcessNotFound, ErrStartRejected, ErrStartNotSent), or
// maybe started (ErrEngineError, ErrEngineUnavailable). The start flow fails a row only for
// the first two; a process that may be running keeps its row PENDING.
var (
	// ErrProcessNotFound: the engine has no deployed definition with that key (404, or its 400
	// "no deployed process definition"). Nothing started.
	ErrProcessNotFound = errors.New("process definition not found")
	// ErrStartRejected: the engine refused the request itself (another 4xx, e.g. a variable it
	// cannot read). Nothing started.
	ErrStartRejected = errors.New("engine refused the start")
	// ErrStartNotSent: the request never reached the engine (the connection could not be
	// made), or the engine refused our credentials (401, 403). Nothing started.
	ErrStartNotSent = errors.New("start not sent to the engine")
	// ErrEngineError: the engine answered 5xx with an error of its own (a RestException body):
	// it took the request and failed; whether its transaction committed is not known.
	ErrEngineError = errors.New("engine failed the start")
	// ErrEngineUnavailable: no usable answer (timeout, connection lost after the request was
	// sent, 5xx without an engine error body): the process may or may not have started.
	ErrEngineUnavailable = errors.New("engine unavailable")
)

// Starter talks to the engine for the start flow: start an instance, and find the instances
// that carry a correlation id (to learn whether an interrupted start reached the engine).
type Starter interface {
	StartProcess(ctx context.Context, key, businessKey string, vars map[string]Variable) (instanceID string, err error)
	FindInstances(ctx context.Context, key, variable, value string) ([]string, error)
}

// Variable is a Camunda typed variable as the REST API takes it.
type Variable = camunda.Variable

// EngineStarter starts processes over the engine's REST API. It is written over net/http
// because the Go client (camunda-client-go v3) takes no context.Context and drops the engine's
// message on 404.
type EngineStarter struct {
	// BaseURL is the REST root, e.g. http://localhost:8080/engine-rest.
	BaseURL string
	// Client sends the requests; its transport carries TLS settings.
	Client *http.Client
	// Authorize sets the Authorization header (basic or bearer), or is nil.
	Authorize func(*http.Request)
	// Timeout bounds one call (a start runs the process up to its first wait state inside
	// it: http.startTimeout); 0 means the caller's context only.
	Timeout time.Duration
	// TenantID, when set, starts the tenant's process definition (camunda.tenantId).
	TenantID string
}

// StartProcess implements Starter: POST /process-definition/key/{key}/start.
func (s *EngineStarter) StartProcess(ctx context.Context, key, businessKey string, vars map[string]Variable) (string, error) {
	in := map[string]any{"variables": vars}
	if businessKey != "" {
		in["businessKey"] = businessKey
	}
	var out struct {
		ID string `json:"id"`
	}
	status, msg, err := s.post(ctx, "/process-definition/key/"+url.PathEscape(key)+tenantPath(s.TenantID)+"/start", in, &out)
	if err != nil {
		return "", fmt.Errorf("start %q: %w", key, err)
	}
	switch {
	case status == http.StatusOK && out.ID != "":
		return out.ID, nil
	case status == http.StatusOK:
		return "", fmt.Errorf("%w: start %q answered 200 without an instance id", ErrEngineUnavailable, key)
	case status == http.StatusNotFound, status == http.StatusBadRequest && notDeployed(msg.Message):
		// Camunda answers 400 (not 404) for some versions' "no deployed process definition".
		return "", fmt.Errorf("%w: %q: %s", ErrProcessNotFound, key, msg.Message)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "", fmt.Errorf("%w: start %q answered %d (check camunda.auth): %s", ErrStartNotSent, key, status, msg.Message)
	case status >= 500 && msg.Type != "":
		return "", fmt.Errorf("%w: start %q answered %d %s: %s", ErrEngineError, key, status, msg.Type, msg.Message)
	case status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests:
		return "", fmt.Errorf("%w: start %q answered %d: %s", ErrEngineUnavailable, key, status, msg.Message)
	default:
		return "", fmt.Errorf("%w: start %q answered %d: %s", ErrStartRejected, key, status, msg.Message)
	}
}

func notDeployed(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "no deployed process definition") || strings.Contains(m, "no matching process definition")
}

// FindInstances implements Starter: the ids of the instances of process key (of TenantID's
// definition when set) whose variable equals value, running (POST /process-instance) or ended
// (POST /history/process-instance; needs a history level above none). The POST forms take the variable as JSON: the GET
// form's "name_eq_value" syntax breaks on values that contain "_", which ids may.
func (s *EngineStarter) FindInstances(ctx context.Context, key, variable, value string) ([]string, error) {
	q := map[string]any{
		"processDefinitionKey": key,
		"variables":            []map[string]any{{"name": variable, "operator": "eq", "value": value}},
	}
	if s.TenantID != "" {
		q["tenantIdIn"] = []string{s.TenantID}
	}
	seen := map[string]bool{}
	var ids []string
	for _, path := range []string{"/process-instance", "/history/process-instance"} {
		var out []struct {
			ID string `json:"id"`
		}
		status, msg, err := s.post(ctx, path, q, &out)
		if err != nil {
			return nil, fmt.Errorf("find instances of %q with %s: %w", key, variable, err)
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("%w: POST %s answered %d: %s", ErrEngineUnavailable, path, status, msg.Message)
		}
		for _, o := range out {
			if o.ID != "" && !seen[o.ID] {
				seen[o.ID] = true
				ids = append(ids, o.ID)
			}
		}
	}
	return ids, nil
}

// engineMessage is the engine's error body (RestException and friends).
type engineMessage struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// post sends one JSON request and decodes a 200 answer into out. A transport failure comes
// back as err wrapping ErrStartNotSent (the connection could not be made: nothing was sent)
// or ErrEngineUnavailable (anything else, a timeout included: the request may have arrived).
func (s *EngineStarter) post(ctx context.Context, path string, in, out any) (int, engineMessage, error) {
	var msg engineMessage
	body, err := json.Marshal(in)
	if err != nil {
		return 0, msg, err
	}
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, msg, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if s.Authorize != nil {
		s.Authorize(req)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		if notSent(err) {
			return 0, msg, fmt.Errorf("%w: %w", ErrStartNotSent, err)
		}
		return 0, msg, fmt.Errorf("%w: %w", ErrEngineUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, msg, fmt.Errorf("%w: read the answer: %w", ErrEngineUnavailable, err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			return 0, msg, fmt.Errorf("%w: answer of POST %s is not the expected JSON: %w", ErrEngineUnavailable, path, err)
		}
		return resp.StatusCode, msg, nil
	}
	if json.Unmarshal(raw, &msg) != nil || msg.Message == "" && msg.Type == "" {
		msg = engineMessage{Message: strings.TrimSpace(string(raw[:min(len(raw), 300)]))}
	}
	return resp.StatusCode, msg, nil
}

// notSent reports a transport error from before the request was written: the connection
// could not be made (dial: refused, unreachable, name not found). Anything later, a timeout
// included, may have delivered the request.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// tenantPath is the REST path segment that selects a tenant's process definition, or "".
func tenantPath(tenantID string) string {
	if tenantID == "" {
		return ""
	}
	return "/tenant-id/" + url.PathEscape(tenantID)
}

// toVariables converts a JSON object's members to Camunda typed variables by
// camunda.VariableFromJSON's rule (README "Process variables from JSON"). Names and String
// values past the engine's column sizes (MaxVariableName, MaxStringVariable) are errors naming
// the variable.
func toVariables(m map[string]json.RawMessage) (map[string]Variable, error) {
	out := make(map[string]Variable, len(m))
	for name, raw := range m {
		if name == "" {
			return nil, errors.New("a variable name is empty")
		}
		if err := checkName(name); err != nil {
			return nil, err
		}
		v, err := camunda.VariableFromJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("variable %q: %w", shorten(name), err)
		}
		if str, err := v.Text(); err == nil {
			if err := checkString(name, str); err != nil {
				return nil, err
			}
		}
		out[name] = v
	}
	return out, nil
}
