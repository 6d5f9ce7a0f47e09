package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Errors a Starter returns, which the API maps to status codes.
var (
	// ErrProcessNotFound: the engine has no process definition with that key (404).
	ErrProcessNotFound = errors.New("process definition not found")
	// ErrEngineUnavailable: the engine could not be reached or answered 5xx (503).
	ErrEngineUnavailable = errors.New("engine unavailable")
	// ErrStartRejected: the engine refused the start request (400), e.g. a bad variable.
	ErrStartRejected = errors.New("engine refused the start")
)

// Starter starts a process instance by definition key.
type Starter interface {
	StartProcess(ctx context.Context, key, businessKey string, vars map[string]Variable) (instanceID string, err error)
}

// Variable is a Camunda typed variable as the REST API takes it.
type Variable struct {
	Value any    `json:"value"`
	Type  string `json:"type"`
}

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
	// Timeout bounds one start call (the engine runs the process up to its first wait state
	// inside it); 0 means the caller's context only.
	Timeout time.Duration
	// TenantID, when set, starts the tenant's process definition (camunda.tenantId).
	TenantID string
}

// StartProcess implements Starter: POST /process-definition/key/{key}/start.
func (s *EngineStarter) StartProcess(ctx context.Context, key, businessKey string, vars map[string]Variable) (string, error) {
	body, err := json.Marshal(map[string]any{"variables": vars, "businessKey": businessKey})
	if err != nil {
		return "", err
	}
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	u := strings.TrimRight(s.BaseURL, "/") + "/process-definition/key/" + url.PathEscape(key) + tenantPath(s.TenantID) + "/start"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if s.Authorize != nil {
		s.Authorize(req)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("%w: %v", ErrEngineUnavailable, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var out struct {
		ID      string `json:"id"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(raw, &out)
	switch {
	case resp.StatusCode == http.StatusOK:
		if out.ID == "" {
			return "", fmt.Errorf("%w: start answered 200 without an instance id", ErrEngineUnavailable)
		}
		return out.ID, nil
	case resp.StatusCode == http.StatusNotFound:
		return "", fmt.Errorf("%w: %q: %s", ErrProcessNotFound, key, out.Message)
	case resp.StatusCode == http.StatusBadRequest && strings.Contains(out.Message, "no deployed process definition"):
		// Camunda answers 400 (not 404) when no definition has the key.
		return "", fmt.Errorf("%w: %q: %s", ErrProcessNotFound, key, out.Message)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", fmt.Errorf("%w: start %q answered %d: %s", ErrEngineUnavailable, key, resp.StatusCode, out.Message)
	default:
		return "", fmt.Errorf("%w: start %q answered %d: %s", ErrStartRejected, key, resp.StatusCode, out.Message)
	}
}

// tenantPath is the REST path segment that selects a tenant's process definition, or "".
func tenantPath(tenantID string) string {
	if tenantID == "" {
		return ""
	}
	return "/tenant-id/" + url.PathEscape(tenantID)
}

// toVariables converts a JSON object's members to Camunda typed variables: strings, booleans,
// whole numbers (Long, or Double beyond 2^53), other numbers (Double), null, and objects and
// arrays as Json (the Spin plugin's type, kept as JSON text). Names and String values past
// the engine's column sizes (MaxVariableName, MaxStringVariable) are errors naming the
// variable.
func toVariables(m map[string]json.RawMessage) (map[string]Variable, error) {
	out := make(map[string]Variable, len(m))
	for name, raw := range m {
		if name == "" {
			return nil, errors.New("a variable name is empty")
		}
		if err := checkName(name); err != nil {
			return nil, err
		}
		v, err := toVariable(raw)
		if err != nil {
			return nil, fmt.Errorf("variable %q: %w", shorten(name), err)
		}
		if str, ok := v.Value.(string); ok && v.Type == "String" {
			if err := checkString(name, str); err != nil {
				return nil, err
			}
		}
		out[name] = v
	}
	return out, nil
}

func toVariable(raw json.RawMessage) (Variable, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return Variable{}, errors.New("empty value")
	}
	switch t[0] {
	case '{', '[':
		return Variable{Value: string(t), Type: "Json"}, nil
	case '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return Variable{}, err
		}
		return Variable{Value: s, Type: "String"}, nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(t, &b); err != nil {
			return Variable{}, err
		}
		return Variable{Value: b, Type: "Boolean"}, nil
	case 'n':
		return Variable{Value: nil, Type: "Null"}, nil
	}
	var n json.Number
	if err := json.Unmarshal(t, &n); err != nil {
		return Variable{}, err
	}
	if i, err := n.Int64(); err == nil && math.Abs(float64(i)) <= 1<<53 {
		return Variable{Value: i, Type: "Long"}, nil
	}
	f, err := n.Float64()
	if err != nil {
		return Variable{}, err
	}
	return Variable{Value: f, Type: "Double"}, nil
}
