package enginetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"time"
)

// DateLayout is the engine's REST date format (yyyy-MM-dd'T'HH:mm:ss.SSSZ), e.g.
// "2026-11-27T18:42:29.208+0000": not RFC 3339 (no colon in the offset).
const DateLayout = "2006-01-02T15:04:05.000-0700"

// ParseTime parses a date as the engine's REST API writes it.
func ParseTime(s string) (time.Time, error) { return time.Parse(DateLayout, s) }

// Variable is a typed Camunda variable as the REST API reads and writes it. Type is e.g.
// "String", "Integer", "Long", "Double", "Boolean", "Json" (Value is then the JSON text, a
// string), "Object" (with ValueInfo objectTypeName and serializationDataFormat), "Null".
type Variable struct {
	Value     any            `json:"value"`
	Type      string         `json:"type,omitempty"`
	ValueInfo map[string]any `json:"valueInfo,omitempty"`
}

// ExternalTask is an entry of GET /external-task (nulls decode as "" and nil).
type ExternalTask struct {
	ID                   string `json:"id"`
	TopicName            string `json:"topicName"`
	WorkerID             string `json:"workerId"`
	LockExpirationTime   string `json:"lockExpirationTime"` // DateLayout; "" when not locked
	Retries              *int   `json:"retries"`            // nil until the first failure reports retries
	ErrorMessage         string `json:"errorMessage"`
	ProcessInstanceID    string `json:"processInstanceId"`
	ActivityID           string `json:"activityId"`
	BusinessKey          string `json:"businessKey"`
	ProcessDefinitionKey string `json:"processDefinitionKey"`
	Priority             int64  `json:"priority"`
	Suspended            bool   `json:"suspended"`
}

// Incident is an entry of GET /incident. For a failed external task IncidentType is
// "failedExternalTask" and Configuration is the external task's id.
type Incident struct {
	ID                string `json:"id"`
	IncidentType      string `json:"incidentType"`
	IncidentMessage   string `json:"incidentMessage"`
	IncidentTimestamp string `json:"incidentTimestamp"`
	Configuration     string `json:"configuration"`
	ProcessInstanceID string `json:"processInstanceId"`
	ActivityID        string `json:"activityId"`
	ExecutionID       string `json:"executionId"`
}

// APIError is a non-2xx answer of the engine, with the engine's own exception type and message.
type APIError struct {
	Method     string
	Path       string
	StatusCode int
	Type       string // e.g. "RestException", "InvalidRequestException"
	Message    string
	Body       string // the raw body when it was not the engine's JSON error
}

func (e *APIError) Error() string {
	msg := e.Message
	if e.Type != "" {
		msg = e.Type + ": " + msg
	}
	if msg == "" {
		msg = e.Body
	}
	return fmt.Sprintf("camunda %s %s: HTTP %d: %s", e.Method, e.Path, e.StatusCode, msg)
}

// StatusCode returns the HTTP status of an *APIError in err's chain, or 0.
func StatusCode(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

// authorize adds the engine's credentials: Options.BasicAuth, or a token from
// Options.BearerAuth.
func (e *Engine) authorize(req *http.Request) error {
	if user, pass, ok := strings.Cut(e.opts.BasicAuth, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	if e.opts.BearerAuth != nil {
		tok, err := e.opts.BearerAuth.token()
		if err != nil {
			return fmt.Errorf("bearer token: %w", err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	return nil
}

// Do sends a request to {BaseURL}{path} (path may carry a query) with in as the JSON body
// (nil: none) and decodes a JSON answer into out (nil: discarded). A non-2xx answer is an
// *APIError. The engine's credentials (Options.BasicAuth or BearerAuth) are sent. Each request is
// also bounded by a 60 s client timeout: keep asyncResponseTimeout of long polls below it.
func (e *Engine) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("camunda %s %s: encode body: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.BaseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.send(req, path, out)
}

func (e *Engine) send(req *http.Request, path string, out any) error {
	req.Header.Set("Accept", "application/json")
	if err := e.authorize(req); err != nil {
		return fmt.Errorf("camunda %s %s: %w", req.Method, path, err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("camunda %s %s: %w", req.Method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("camunda %s %s: read answer: %w", req.Method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := &APIError{Method: req.Method, Path: path, StatusCode: resp.StatusCode}
		var engineErr struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &engineErr) == nil && (engineErr.Type != "" || engineErr.Message != "") {
			apiErr.Type, apiErr.Message = engineErr.Type, engineErr.Message
		} else {
			apiErr.Body = truncate(strings.TrimSpace(string(data)), 2000)
		}
		return apiErr
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("camunda %s %s: decode answer: %w (body: %s)", req.Method, path, err, truncate(string(data), 500))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Deploy creates a deployment named name from files (resource name -> content, e.g.
// "order.bpmn"), with deploy-changed-only: resources unchanged since the last deployment of
// that name are not deployed again. It returns the deployment's id.
func (e *Engine) Deploy(ctx context.Context, name string, files map[string][]byte) (string, error) {
	if len(files) == 0 {
		return "", errors.New("enginetest: Deploy: no files")
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fields := [][2]string{
		{"deployment-name", name},
		{"deployment-source", "enginetest"},
		{"enable-duplicate-filtering", "true"},
		{"deploy-changed-only", "true"},
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return "", err
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, n, n))
		h.Set("Content-Type", "application/octet-stream")
		w, err := mw.CreatePart(h)
		if err != nil {
			return "", err
		}
		if _, err := w.Write(files[n]); err != nil {
			return "", err
		}
	}
	if err := mw.Close(); err != nil {
		return "", err
	}
	const path = "/deployment/create"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.BaseURL+path, &buf)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var out struct {
		ID string `json:"id"`
	}
	if err := e.send(req, path, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// StartProcess starts the latest version of the process definition key and returns the
// process instance id.
func (e *Engine) StartProcess(ctx context.Context, key, businessKey string, vars map[string]Variable) (string, error) {
	in := map[string]any{}
	if businessKey != "" {
		in["businessKey"] = businessKey
	}
	if len(vars) > 0 {
		in["variables"] = vars
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := e.Do(ctx, http.MethodPost, "/process-definition/key/"+url.PathEscape(key)+"/start", in, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// ExternalTasks lists external tasks (GET /external-task) filtered by query, e.g.
// url.Values{"processInstanceId": {id}} or {"topicName": {"t"}, "locked": {"true"}}.
func (e *Engine) ExternalTasks(ctx context.Context, query url.Values) ([]ExternalTask, error) {
	var out []ExternalTask
	if err := e.Do(ctx, http.MethodGet, withQuery("/external-task", query), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CountExternalTasks counts external tasks (GET /external-task/count) filtered by query.
func (e *Engine) CountExternalTasks(ctx context.Context, query url.Values) (int, error) {
	var out struct {
		Count int `json:"count"`
	}
	if err := e.Do(ctx, http.MethodGet, withQuery("/external-task/count", query), nil, &out); err != nil {
		return 0, err
	}
	return out.Count, nil
}

// Incidents lists the open incidents of a process instance ("" for all of them).
func (e *Engine) Incidents(ctx context.Context, processInstanceID string) ([]Incident, error) {
	q := url.Values{}
	if processInstanceID != "" {
		q.Set("processInstanceId", processInstanceID)
	}
	var out []Incident
	if err := e.Do(ctx, http.MethodGet, withQuery("/incident", q), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// ProcessInstanceState returns the instance's state from history: "ACTIVE", "SUSPENDED",
// "COMPLETED", "EXTERNALLY_TERMINATED" or "INTERNALLY_TERMINATED".
func (e *Engine) ProcessInstanceState(ctx context.Context, id string) (string, error) {
	var out struct {
		State string `json:"state"`
	}
	if err := e.Do(ctx, http.MethodGet, "/history/process-instance/"+url.PathEscape(id), nil, &out); err != nil {
		return "", err
	}
	return out.State, nil
}

// ProcessInstanceEnded reports whether the instance has ended: its history state is
// COMPLETED (or terminated), or, when history does not know it, GET /process-instance/{id}
// answers 404. Use ProcessInstanceState to tell completion from termination.
func (e *Engine) ProcessInstanceEnded(ctx context.Context, id string) (bool, error) {
	state, err := e.ProcessInstanceState(ctx, id)
	switch {
	case err == nil:
		return state != "ACTIVE" && state != "SUSPENDED", nil
	case StatusCode(err) != http.StatusNotFound:
		return false, err
	}
	err = e.Do(ctx, http.MethodGet, "/process-instance/"+url.PathEscape(id), nil, nil)
	switch {
	case err == nil:
		return false, nil
	case StatusCode(err) == http.StatusNotFound:
		return true, nil
	default:
		return false, err
	}
}

// Variables returns the variables of a process instance from history (GET
// /history/variable-instance, deserializeValues=false so a Json value is its JSON text).
// Deleted variables are left out; when a name exists in several scopes the process
// instance's own scope wins.
func (e *Engine) Variables(ctx context.Context, instanceID string) (map[string]Variable, error) {
	q := url.Values{"processInstanceId": {instanceID}, "deserializeValues": {"false"}}
	var rows []struct {
		Name               string         `json:"name"`
		Type               string         `json:"type"`
		Value              any            `json:"value"`
		ValueInfo          map[string]any `json:"valueInfo"`
		State              string         `json:"state"`
		ActivityInstanceID string         `json:"activityInstanceId"`
	}
	if err := e.Do(ctx, http.MethodGet, withQuery("/history/variable-instance", q), nil, &rows); err != nil {
		return nil, err
	}
	vars := make(map[string]Variable, len(rows))
	processScope := map[string]bool{}
	for _, r := range rows {
		if r.State == "DELETED" {
			continue
		}
		own := r.ActivityInstanceID == instanceID
		if _, seen := vars[r.Name]; seen && (processScope[r.Name] || !own) {
			continue
		}
		v := Variable{Value: r.Value, Type: r.Type}
		if len(r.ValueInfo) > 0 {
			v.ValueInfo = r.ValueInfo
		}
		vars[r.Name] = v
		processScope[r.Name] = own
	}
	return vars, nil
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// Version returns the engine's version as GET /version answers it, e.g. "7.24.0" for Camunda,
// "1.0.3" for Operaton (the fork numbers its own releases).
func (e *Engine) Version(ctx context.Context) (string, error) {
	var out struct {
		Version string `json:"version"`
	}
	if err := e.Do(ctx, http.MethodGet, "/version", nil, &out); err != nil {
		return "", err
	}
	return out.Version, nil
}
