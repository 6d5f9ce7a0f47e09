package topics

// The engine's REST calls are written here over net/http instead of going through
// github.com/citilinkru/camunda-client-go/v3, for three reasons:
//   - it has no context.Context, so neither shutdown nor a per-call deadline can abort a call;
//   - its QueryFetchAndLockTopic types processDefinitionKeyIn and withoutTenantId as *string
//     and lacks includeExtensionProperties, processDefinitionVersionTag and sorting;
//   - its 404 error drops the engine's message, which we log.
// The calls are small (one JSON body each), so owning them costs less than working around it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
)

// Sentinel errors for the engine's answers, for errors.Is.
var (
	// ErrLockLost: another worker holds the task's lock now (400 "... is locked by worker"),
	// or the lock expired before an extension. The task is theirs; do not retry.
	ErrLockLost = errors.New("lock lost")
	// ErrTaskGone: the task no longer exists (404): completed elsewhere, cancelled by a
	// boundary event, or its instance was deleted.
	ErrTaskGone = errors.New("task gone")
)

// EngineError is a non-2xx answer from the engine's REST API.
type EngineError struct {
	Op     string
	Status int
	// Type and Message are the engine's RestException fields.
	Type    string
	Message string
}

func (e *EngineError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Type != "" {
		return fmt.Sprintf("%s: engine answered %d %s: %s", e.Op, e.Status, e.Type, msg)
	}
	return fmt.Sprintf("%s: engine answered %d: %s", e.Op, e.Status, msg)
}

// Is maps the engine's answers to ErrLockLost and ErrTaskGone.
func (e *EngineError) Is(target error) bool {
	switch target {
	case ErrTaskGone:
		return e.Status == http.StatusNotFound
	case ErrLockLost:
		return e.Status == http.StatusBadRequest && isLockMessage(e.Message)
	}
	return false
}

func isLockMessage(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "locked by worker") || strings.Contains(m, "lock that expired") ||
		strings.Contains(m, "is not locked")
}

// retryable reports whether a call failing with err may succeed if repeated: network errors
// and 5xx answers (and 429). 4xx answers and cancelled contexts are final.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ee *EngineError
	if errors.As(err, &ee) {
		return ee.Status >= 500 || ee.Status == http.StatusTooManyRequests
	}
	return true
}

// engine is the REST client for the calls the runtime makes.
type engine struct {
	base     string
	hc       *http.Client
	auth     config.CamundaAuth
	reqTO    time.Duration
	workerID string
}

// newHTTPClient builds the engine's HTTP client (see camunda.NewHTTPClient) with a client
// timeout above the long-poll time, so an empty long poll is never cut by it. rt replaces
// the transport under the login (tests).
func newHTTPClient(cfg config.Camunda, rt http.RoundTripper) (*http.Client, error) {
	return camunda.NewHTTPClient(ClientConfig(cfg), rt)
}

// ClientConfig maps the daemon's camunda section onto the engine client's configuration.
func ClientConfig(cfg config.Camunda) camunda.Config {
	return camunda.Config{
		URL:     cfg.URL,
		Auth:    camunda.Auth{Username: cfg.Auth.Username, Password: cfg.Auth.Password, Token: cfg.Auth.Token, OAuth2: camunda.OAuth2{TokenURL: cfg.Auth.OAuth2.TokenURL, ClientID: cfg.Auth.OAuth2.ClientID, ClientSecret: cfg.Auth.OAuth2.ClientSecret, Scopes: cfg.Auth.OAuth2.Scopes}},
		TLS:     camunda.TLS{CAFile: cfg.TLS.CAFile, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, InsecureSkipVerify: cfg.TLS.InsecureSkipVerify},
		Timeout: longPollHTTPTimeout(cfg.AsyncResponseTimeout),
	}
}

// longPollHTTPTimeout is the HTTP deadline of a long poll: the engine answers at
// asyncResponseTimeout at the latest, so allow it a margin for a slow answer.
func longPollHTTPTimeout(async time.Duration) time.Duration {
	margin := async / 4
	if margin < 10*time.Second {
		margin = 10 * time.Second
	}
	return async + margin
}

func newEngine(cfg config.Camunda, hc *http.Client) *engine {
	to := cfg.RequestTimeout
	if to <= 0 {
		to = 10 * time.Second
	}
	return &engine{base: strings.TrimRight(cfg.URL, "/"), hc: hc, auth: cfg.Auth, reqTO: to, workerID: cfg.WorkerID}
}

// do sends one request and decodes a 2xx JSON answer into out (when out is not nil).
// timeout 0 means the context's own deadline only.
func (e *engine) do(ctx context.Context, op, method, path string, timeout time.Duration, body io.Reader, contentType string, out any) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, body)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := e.hc.Do(req)
	if err != nil {
		// url.Error repeats the URL, which is fine: it never contains credentials (auth is a
		// header).
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ee := &EngineError{Op: op, Status: resp.StatusCode}
		var rex struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &rex) == nil && (rex.Type != "" || rex.Message != "") {
			ee.Type, ee.Message = rex.Type, rex.Message
		} else {
			ee.Message = strings.TrimSpace(string(truncate(data, 500)))
		}
		return ee
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s: decode answer: %w", op, err)
		}
	}
	return nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func (e *engine) postJSON(ctx context.Context, op, path string, timeout time.Duration, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", op, err)
	}
	return e.do(ctx, op, http.MethodPost, path, timeout, bytes.NewReader(body), "application/json", out)
}

// fetchRequest is the body of POST /external-task/fetchAndLock.
type fetchRequest struct {
	WorkerID             string         `json:"workerId"`
	MaxTasks             int            `json:"maxTasks"`
	UsePriority          bool           `json:"usePriority"`
	AsyncResponseTimeout int64          `json:"asyncResponseTimeout,omitempty"`
	Sorting              []sortingEntry `json:"sorting,omitempty"`
	Topics               []fetchTopic   `json:"topics"`
}

type sortingEntry struct {
	SortBy    string `json:"sortBy"`
	SortOrder string `json:"sortOrder"`
}

// fetchTopic is one topic of a fetch request, with the API's real types: arrays for the *In
// filters, a bool for withoutTenantId, a map for processVariables.
type fetchTopic struct {
	TopicName                   string         `json:"topicName"`
	LockDuration                int64          `json:"lockDuration"`
	Variables                   []string       `json:"variables,omitempty"`
	LocalVariables              bool           `json:"localVariables,omitempty"`
	BusinessKey                 string         `json:"businessKey,omitempty"`
	ProcessDefinitionKey        string         `json:"processDefinitionKey,omitempty"`
	ProcessDefinitionKeyIn      []string       `json:"processDefinitionKeyIn,omitempty"`
	ProcessDefinitionVersionTag string         `json:"processDefinitionVersionTag,omitempty"`
	TenantIDIn                  []string       `json:"tenantIdIn,omitempty"`
	WithoutTenantID             bool           `json:"withoutTenantId,omitempty"`
	ProcessVariables            map[string]any `json:"processVariables,omitempty"`
	IncludeExtensionProperties  bool           `json:"includeExtensionProperties,omitempty"`
}

// lockedTask is one task in the fetchAndLock answer.
type lockedTask struct {
	ID                   string              `json:"id"`
	TopicName            string              `json:"topicName"`
	WorkerID             string              `json:"workerId"`
	BusinessKey          string              `json:"businessKey"`
	ProcessInstanceID    string              `json:"processInstanceId"`
	ProcessDefinitionID  string              `json:"processDefinitionId"`
	ProcessDefinitionKey string              `json:"processDefinitionKey"`
	ActivityID           string              `json:"activityId"`
	ActivityInstanceID   string              `json:"activityInstanceId"`
	ExecutionID          string              `json:"executionId"`
	Retries              *int                `json:"retries"`
	Priority             int64               `json:"priority"`
	TenantID             string              `json:"tenantId"`
	LockExpirationTime   string              `json:"lockExpirationTime"`
	ExtensionProperties  map[string]string   `json:"extensionProperties"`
	Variables            map[string]Variable `json:"variables"`
}

func (lt lockedTask) task() *Task {
	t := &Task{
		ID: lt.ID, Topic: lt.TopicName, WorkerID: lt.WorkerID, BusinessKey: lt.BusinessKey,
		ProcessInstanceID: lt.ProcessInstanceID, ProcessDefinitionID: lt.ProcessDefinitionID,
		ProcessDefinitionKey: lt.ProcessDefinitionKey, ActivityID: lt.ActivityID,
		ActivityInstanceID: lt.ActivityInstanceID, ExecutionID: lt.ExecutionID,
		Retries: lt.Retries, Priority: lt.Priority, TenantID: lt.TenantID,
		ExtensionProperties: lt.ExtensionProperties, Variables: lt.Variables,
	}
	if t.Variables == nil {
		t.Variables = map[string]Variable{}
	}
	if lt.LockExpirationTime != "" {
		// Camunda's default date format: 2006-01-02T15:04:05.000-0700.
		for _, layout := range []string{"2006-01-02T15:04:05.000-0700", time.RFC3339Nano} {
			if ts, err := time.Parse(layout, lt.LockExpirationTime); err == nil {
				t.LockExpiration = ts
				break
			}
		}
	}
	return t
}

// buildTopic is the fetch-request entry for a subscription asking for at most one batch.
func buildTopic(s config.Topic) fetchTopic {
	ft := fetchTopic{
		TopicName:                   s.Name,
		LockDuration:                s.LockDuration.Milliseconds(),
		Variables:                   s.Variables,
		LocalVariables:              s.LocalVariables,
		BusinessKey:                 s.BusinessKey,
		ProcessDefinitionKey:        s.ProcessDefinitionKey,
		ProcessDefinitionKeyIn:      s.ProcessDefinitionKeyIn,
		ProcessDefinitionVersionTag: s.ProcessDefinitionVersionTag,
		TenantIDIn:                  s.TenantIDIn,
		WithoutTenantID:             s.WithoutTenantID,
		IncludeExtensionProperties:  s.IncludeExtensionProperties,
	}
	if len(s.ProcessVariables) > 0 {
		ft.ProcessVariables = make(map[string]any, len(s.ProcessVariables))
		for _, pv := range s.ProcessVariables {
			ft.ProcessVariables[pv.Name] = pv.Value
		}
	}
	return ft
}

// sortingFor turns "createTime:asc" into the API's sorting list; "" is engine order.
func sortingFor(s string) []sortingEntry {
	field, order, ok := strings.Cut(s, ":")
	if !ok || field == "" {
		return nil
	}
	return []sortingEntry{{SortBy: field, SortOrder: order}}
}

func (e *engine) fetchAndLock(ctx context.Context, req fetchRequest) ([]lockedTask, error) {
	var out []lockedTask
	// No extra timeout: the HTTP client's is derived from asyncResponseTimeout.
	err := e.postJSON(ctx, "fetchAndLock", "/external-task/fetchAndLock", 0, req, &out)
	return out, err
}

func (e *engine) complete(ctx context.Context, id string, c Complete) error {
	body := struct {
		WorkerID       string    `json:"workerId"`
		Variables      Variables `json:"variables,omitempty"`
		LocalVariables Variables `json:"localVariables,omitempty"`
	}{e.workerID, c.Variables, c.LocalVariables}
	return e.postJSON(ctx, "complete", "/external-task/"+url.PathEscape(id)+"/complete", e.reqTO, body, nil)
}

// failureRequest is the body of POST /external-task/{id}/failure. Retries is not omitempty:
// the engine reads an absent retries as 0, an incident.
type failureRequest struct {
	WorkerID       string    `json:"workerId"`
	ErrorMessage   string    `json:"errorMessage"`
	ErrorDetails   string    `json:"errorDetails,omitempty"`
	Retries        int       `json:"retries"`
	RetryTimeout   int64     `json:"retryTimeout"`
	Variables      Variables `json:"variables,omitempty"`
	LocalVariables Variables `json:"localVariables,omitempty"`
}

func (e *engine) failure(ctx context.Context, id string, f failureRequest) error {
	f.WorkerID = e.workerID
	return e.postJSON(ctx, "failure", "/external-task/"+url.PathEscape(id)+"/failure", e.reqTO, f, nil)
}

func (e *engine) bpmnError(ctx context.Context, id string, be *BPMNError) error {
	body := struct {
		WorkerID     string    `json:"workerId"`
		ErrorCode    string    `json:"errorCode"`
		ErrorMessage string    `json:"errorMessage,omitempty"`
		Variables    Variables `json:"variables,omitempty"`
	}{e.workerID, be.Code, be.Message, be.Variables}
	return e.postJSON(ctx, "bpmnError", "/external-task/"+url.PathEscape(id)+"/bpmnError", e.reqTO, body, nil)
}

func (e *engine) extendLock(ctx context.Context, id string, d time.Duration) error {
	body := struct {
		WorkerID    string `json:"workerId"`
		NewDuration int64  `json:"newDuration"`
	}{e.workerID, d.Milliseconds()}
	return e.postJSON(ctx, "extendLock", "/external-task/"+url.PathEscape(id)+"/extendLock", e.reqTO, body, nil)
}

func (e *engine) unlock(ctx context.Context, id string) error {
	return e.do(ctx, "unlock", http.MethodPost, "/external-task/"+url.PathEscape(id)+"/unlock", e.reqTO, nil, "", nil)
}

// version asks the engine for its version (GET /version, {"version": "..."}): a cheap liveness
// probe. The version is the engine's own release number, opaque here: "7.24.0" for Camunda,
// "1.0.3" for Operaton, which numbers its releases anew.
func (e *engine) version(ctx context.Context) (string, error) {
	var out struct {
		Version string `json:"version"`
	}
	err := e.do(ctx, "version", http.MethodGet, "/version", e.reqTO, nil, "", &out)
	return out.Version, err
}

// Resource is one file of a deployment.
type Resource struct {
	// Name is the file name the engine records (e.g. onboard-user.bpmn); changes are detected
	// per name.
	Name string
	Data []byte
}

// Deployment is the engine's answer to a deployment.
type Deployment struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// DeployedProcessDefinitions lists the definitions this deployment created, by id; empty
	// when nothing changed (duplicate filtering).
	DeployedProcessDefinitions map[string]struct {
		Key     string `json:"key"`
		Version int    `json:"version"`
	} `json:"deployedProcessDefinitions"`
}

func (e *engine) deploy(ctx context.Context, name, source, tenantID string, files []Resource) (Deployment, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fields := [][2]string{
		{"deployment-name", name},
		{"deployment-source", source},
		{"enable-duplicate-filtering", "true"},
		{"deploy-changed-only", "true"},
	}
	if tenantID != "" {
		fields = append(fields, [2]string{"tenant-id", tenantID})
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return Deployment{}, fmt.Errorf("deploy: %w", err)
		}
	}
	for _, r := range files {
		w, err := mw.CreateFormFile(r.Name, r.Name)
		if err != nil {
			return Deployment{}, fmt.Errorf("deploy: %w", err)
		}
		if _, err := w.Write(r.Data); err != nil {
			return Deployment{}, fmt.Errorf("deploy: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return Deployment{}, fmt.Errorf("deploy: %w", err)
	}
	var d Deployment
	err := e.do(ctx, "deploy", http.MethodPost, "/deployment/create", e.reqTO, &buf, mw.FormDataContentType(), &d)
	return d, err
}

// Deploy deploys files as one deployment named name, with duplicate filtering and
// deploy-changed-only: a restart with unchanged models creates nothing, a changed file gets a
// new version. With cfg.TenantID the deployment belongs to that tenant. opts may inject an
// HTTP client (WithHTTPClient).
func Deploy(ctx context.Context, cfg config.Camunda, name string, files []Resource, opts ...Option) (Deployment, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	hc := o.httpClient
	if hc == nil {
		var err error
		if hc, err = newHTTPClient(cfg, o.transport); err != nil {
			return Deployment{}, err
		}
	}
	return newEngine(cfg, hc).deploy(ctx, name, "camunda-waitroom", cfg.TenantID, files)
}
