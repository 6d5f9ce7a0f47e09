// Package config is the daemon's typed configuration: one struct, defaults in one place
// (Default), loading from config.yaml plus environment overrides (Load), and validation whose
// errors name the key, the value (secrets redacted) and the rule.
package config

import (
	"time"
)

// Config is the whole configuration. Keys in YAML are the mapstructure tags, joined by dots
// (store.maxBodyBytes). Every key also has an environment name: WAITROOM_ + the key upper-cased
// with dots as underscores (WAITROOM_STORE_MAXBODYBYTES); the Node.js service's names (DB_HOST,
// DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, DB_DSN, SYNC_TIMEOUT_MS, PORT) keep working. See
// EnvNames.
type Config struct {
	// Instance identifies this replica.
	Instance Instance `mapstructure:"instance"`
	// Log configures zap.
	Log Log `mapstructure:"log"`
	// Store is the process_store database.
	Store Store `mapstructure:"store"`
	// Camunda is the engine and the fetch-and-lock loop.
	Camunda Camunda `mapstructure:"camunda"`
	// Topics are the external-task subscriptions, one per topic name.
	Topics []Topic `mapstructure:"topics"`
	// Waitroom configures waiting for rows to leave PENDING.
	Waitroom Waitroom `mapstructure:"waitroom"`
	// HTTP is the daemon's HTTP API.
	HTTP HTTP `mapstructure:"http"`
	// Retention bounds the table's growth.
	Retention Retention `mapstructure:"retention"`
	// Failover hands a dead replica's external tasks to the survivors.
	Failover Failover `mapstructure:"failover"`
}

// Instance identifies this replica to the engine (worker id) and in process_store (owner).
type Instance struct {
	// ID is this replica's id; "" means host name plus a random suffix, so replicas never share
	// one. It is the owner of rows this replica registers, and the start of its default
	// Camunda worker id.
	ID string `mapstructure:"id"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `mapstructure:"level"`
	// Format is json (the default, for log shippers) or console (for people).
	Format string `mapstructure:"format"`
}

// Store is the process_store database.
type Store struct {
	// Driver is sqlite, postgres or mssql; "" means mssql when host is set (the Node.js service's
	// DB_* environment) and sqlite otherwise.
	Driver string `mapstructure:"driver"`
	// DSN is a full connection string; when set, host/port/name/user/password are not used.
	// For sqlite it is a file path or file: URI.
	DSN string `mapstructure:"dsn"`
	// Host, Port, Name, User and Password build the DSN for mssql or postgres when DSN is empty.
	Host     string `mapstructure:"host"`
	Port     int    `mapstructure:"port"`
	Name     string `mapstructure:"name"`
	User     string `mapstructure:"user"`
	Password string `mapstructure:"password"`
	// Params are extra connection parameters appended to the built DSN (for mssql, e.g.
	// encrypt=true, "app name", or fedauth=ActiveDirectoryDefault for an Entra ID login; for
	// postgres, e.g. sslmode=require).
	Params map[string]string `mapstructure:"params"`
	// MaxBodyBytes limits a payload or error body.
	MaxBodyBytes int `mapstructure:"maxBodyBytes"`
	// MigrateOnStart applies pending migrations when `worker run` starts.
	MigrateOnStart bool `mapstructure:"migrateOnStart"`
	// MaxOpenConns bounds the connection pool.
	MaxOpenConns int `mapstructure:"maxOpenConns"`
	// ConnectTimeout bounds how long start-up waits for the database to answer.
	ConnectTimeout time.Duration `mapstructure:"connectTimeout"`
	// MigrateTimeout bounds the migrations `worker run` applies when MigrateOnStart is set,
	// apart from ConnectTimeout: a migration waits for a schema lock behind the queries of
	// other services and may build an index on a large table, and one cut off leaves its
	// version dirty, which stops every replica until someone runs `worker migrate force`.
	MigrateTimeout time.Duration `mapstructure:"migrateTimeout"`
	// BreakerFailures consecutive database failures open the circuit breaker: store calls
	// then fail at once, and /readyz says so, for BreakerOpenFor before one trial call.
	BreakerFailures int           `mapstructure:"breakerFailures"`
	BreakerOpenFor  time.Duration `mapstructure:"breakerOpenFor"`
}

// Camunda is the engine and the fetch-and-lock loop shared by all topics.
type Camunda struct {
	// URL is the engine's REST root, e.g. http://localhost:8080/engine-rest.
	URL string `mapstructure:"url"`
	// WorkerID is sent with every fetch-and-lock; "" means instance.id plus a suffix new at
	// each start (see bootWorkerID: a restarted replica must not share its predecessor's).
	WorkerID string `mapstructure:"workerId"`
	// TenantID isolates this deployment in an engine shared with others: the embedded models
	// are deployed for this tenant, processes are started as this tenant's, and topics fetch
	// only this tenant's tasks (unless a topic sets tenantIdIn or withoutTenantId). Without
	// it, two deployments on one engine that use the same topic names take each other's tasks.
	TenantID string `mapstructure:"tenantId"`
	// Auth is basic (username/password), bearer (token) or OAuth2 client credentials
	// (oauth2); at most one.
	Auth CamundaAuth `mapstructure:"auth"`
	// TLS configures the connection to an https engine.
	TLS TLS `mapstructure:"tls"`
	// AsyncResponseTimeout is the long-poll time; the HTTP timeout is derived from it.
	AsyncResponseTimeout time.Duration `mapstructure:"asyncResponseTimeout"`
	// RequestTimeout bounds every other REST call (complete, failure, extendLock, ...).
	RequestTimeout time.Duration `mapstructure:"requestTimeout"`
	// UsePriority and Sorting are request-wide in the REST API; a topic may override them, in
	// which case it gets a long poll of its own.
	UsePriority bool `mapstructure:"usePriority"`
	// Sorting is "" (engine order), "createTime:asc" or "createTime:desc".
	Sorting string `mapstructure:"sorting"`
	// PollBackoff is the wait after a failed poll: initial, doubling up to max, with jitter.
	PollBackoff Backoff `mapstructure:"pollBackoff"`
	// ShutdownTimeout is how long running handlers may finish after SIGTERM.
	ShutdownTimeout time.Duration `mapstructure:"shutdownTimeout"`
	// LockExtensionFraction: a handler still running after this fraction of lockDuration gets
	// its lock extended (by lockDuration), again and again until it returns.
	LockExtensionFraction float64 `mapstructure:"lockExtensionFraction"`
	// DeployOnStart deploys the embedded BPMN models at start-up (changed resources only).
	DeployOnStart bool `mapstructure:"deployOnStart"`
}

// CamundaAuth is the engine's authentication. Password, Token and OAuth2.ClientSecret are
// secrets.
type CamundaAuth struct {
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	Token    string `mapstructure:"token"`
	// OAuth2 fetches bearer tokens from a token endpoint with client credentials; used when
	// its tokenUrl is set.
	OAuth2 OAuth2 `mapstructure:"oauth2"`
}

// OAuth2 is the client-credentials grant: the worker asks TokenURL for an access token with
// ClientID and ClientSecret (and Scopes), caches it until shortly before it expires, and
// sends it as a bearer token to the engine. ClientSecret is a secret.
type OAuth2 struct {
	// TokenURL is the authorization server's token endpoint, e.g.
	// https://login.example.com/realms/x/protocol/openid-connect/token.
	TokenURL     string `mapstructure:"tokenUrl"`
	ClientID     string `mapstructure:"clientId"`
	ClientSecret string `mapstructure:"clientSecret"`
	// Scopes are requested with each token; empty sends none.
	Scopes []string `mapstructure:"scopes"`
}

// Enabled reports whether any OAuth2 key is set.
func (o OAuth2) Enabled() bool {
	return o.TokenURL != "" || o.ClientID != "" || o.ClientSecret != "" || len(o.Scopes) > 0
}

// TLS configures https to the engine.
type TLS struct {
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string `mapstructure:"caFile"`
	// CertFile and KeyFile are a PEM client certificate (chain) and its private key, for an
	// engine (or a proxy before it) that requires mutual TLS; both or neither.
	CertFile string `mapstructure:"certFile"`
	KeyFile  string `mapstructure:"keyFile"`
	// InsecureSkipVerify disables certificate checks: for tests only.
	InsecureSkipVerify bool `mapstructure:"insecureSkipVerify"`
}

// Backoff is a capped exponential backoff with jitter.
type Backoff struct {
	Initial time.Duration `mapstructure:"initial"`
	Max     time.Duration `mapstructure:"max"`
}

// Topic is one external-task subscription. Name is a value, never a map key: viper lower-cases
// map keys and Camunda topic names are case-sensitive.
type Topic struct {
	// Name is the Camunda topic name (case-sensitive).
	Name string `mapstructure:"name"`
	// Handler is a registered handler name (e.g. onboard-user/prepare-response) or "result",
	// the generic handler configured by Result; "" means the topic name.
	Handler string `mapstructure:"handler"`
	// LockDuration is how long a fetched task stays locked to this worker.
	LockDuration time.Duration `mapstructure:"lockDuration"`
	// MaxTasks caps how many tasks one fetch may lock for this topic (never more than free
	// handler slots).
	MaxTasks int `mapstructure:"maxTasks"`
	// MaxParallel is how many handlers of this topic run at once.
	MaxParallel int `mapstructure:"maxParallel"`
	// Variables limits the variables fetched; empty fetches all.
	Variables []string `mapstructure:"variables"`
	// LocalVariables fetches only local variables.
	LocalVariables bool `mapstructure:"localVariables"`
	// BusinessKey, ProcessDefinitionKey(In), ProcessDefinitionVersionTag, TenantIDIn,
	// WithoutTenantID and ProcessVariables filter the tasks fetched, as in the REST API.
	BusinessKey                 string   `mapstructure:"businessKey"`
	ProcessDefinitionKey        string   `mapstructure:"processDefinitionKey"`
	ProcessDefinitionKeyIn      []string `mapstructure:"processDefinitionKeyIn"`
	ProcessDefinitionVersionTag string   `mapstructure:"processDefinitionVersionTag"`
	TenantIDIn                  []string `mapstructure:"tenantIdIn"`
	WithoutTenantID             bool     `mapstructure:"withoutTenantId"`
	// ProcessVariables: a task matches if any listed variable has the listed value (OR).
	ProcessVariables []VariableMatch `mapstructure:"processVariables"`
	// UsePriority and Sorting override the camunda-level settings for this topic.
	UsePriority *bool   `mapstructure:"usePriority"`
	Sorting     *string `mapstructure:"sorting"`
	// IncludeExtensionProperties fetches the activity's extension properties.
	IncludeExtensionProperties bool `mapstructure:"includeExtensionProperties"`
	// Retries is how many times a failing task is tried in all before the engine raises an
	// incident.
	Retries int `mapstructure:"retries"`
	// RetryBackoff is the retryTimeout sent with failures: initial, doubling, capped at max.
	RetryBackoff Backoff `mapstructure:"retryBackoff"`
	// Result configures handlers that finish a process_store row (prepare-response and the
	// generic "result" handler).
	Result Result `mapstructure:"result"`
}

// VariableMatch is one processVariables filter entry. Names are case-sensitive, hence a list.
type VariableMatch struct {
	Name  string `mapstructure:"name"`
	Value any    `mapstructure:"value"`
}

// Result says how a handler reads a process's result and where it writes it.
type Result struct {
	// CorrelationVariable holds the correlation id.
	CorrelationVariable string `mapstructure:"correlationVariable"`
	// Variables are copied into the DONE payload (a JSON object keyed by variable name);
	// empty copies every fetched variable except the correlation and error variables.
	Variables []string `mapstructure:"variables"`
	// ErrorVariable, when set and non-null on the task, makes the row ERROR with its value.
	ErrorVariable string `mapstructure:"errorVariable"`
	// OnMissingRow is what to do when no row has the correlation id: insert (create it
	// finished, so a late reader finds it), ignore (complete the task, write nothing) or fail
	// (fail the task with retries 0, an incident for an operator).
	OnMissingRow string `mapstructure:"onMissingRow"`
}

// Waitroom configures waiting.
type Waitroom struct {
	// Timeout is how long a wait lasts (SYNC_TIMEOUT_MS).
	Timeout time.Duration `mapstructure:"timeout"`
	// PollInterval is the batched status read's period while someone waits.
	PollInterval time.Duration `mapstructure:"pollInterval"`
	// NotifyPollInterval replaces PollInterval while PostgreSQL notifications are live.
	NotifyPollInterval time.Duration `mapstructure:"notifyPollInterval"`
	// Notify uses PostgreSQL LISTEN/NOTIFY when the store is postgres.
	Notify bool `mapstructure:"notify"`
	// MaxWaiters bounds concurrent waiters; past it a wait fails fast.
	MaxWaiters int `mapstructure:"maxWaiters"`
	// ClearOnShutdown marks this instance's PENDING rows ERROR at shutdown (the Node.js service's
	// clearAll). Off by default: a process still running completes its row later and a
	// client can collect the result by id.
	ClearOnShutdown bool `mapstructure:"clearOnShutdown"`
}

// HTTP is the daemon's HTTP API.
type HTTP struct {
	// Addr is the listen address; PORT sets ":PORT". The default avoids Camunda's 8080.
	Addr string `mapstructure:"addr"`
	// AuthToken, when set, is required as a bearer token on the /process routes.
	AuthToken string `mapstructure:"authToken"`
	// MetricsAuth requires AuthToken on /metrics too, for a metrics endpoint reachable by
	// more than the scraper. Off by default: scrapers usually reach it inside the cluster, and
	// the metrics carry counts and topic names, not process data.
	MetricsAuth bool `mapstructure:"metricsAuth"`
	// MaxBodyBytes limits request bodies.
	MaxBodyBytes int `mapstructure:"maxBodyBytes"`
	// ReadTimeout and WriteTimeout are the server's; WriteTimeout must exceed the longest wait.
	ReadTimeout  time.Duration `mapstructure:"readTimeout"`
	WriteTimeout time.Duration `mapstructure:"writeTimeout"`

	// StartableProcesses is the allow-list of process definition keys POST
	// /process/{key}/start may start; empty means the keys of the embedded models (the
	// processes this daemon serves). Any other key answers 404 and writes nothing.
	StartableProcesses []string `mapstructure:"startableProcesses"`
	// StartTimeout bounds one start call to the engine (the engine runs the process to its
	// first wait state inside it). A start that times out may still have started: the row
	// stays PENDING and the answer is 503 with the result's Location.
	StartTimeout time.Duration `mapstructure:"startTimeout"`
	// StartLease is how long the replica that registered a start holds it before another
	// replica, retrying the same correlation id, may check the engine for the instance and
	// take the start over. It must exceed StartTimeout with margin (at least twice it), so a
	// start the engine answers late still lands inside the lease.
	StartLease time.Duration `mapstructure:"startLease"`
}

// Failover is how replicas notice a dead peer: each beats into process_store_heartbeat, and
// one survivor unlocks the engine tasks a replica holds once its beats stop, so they are
// worked again within seconds instead of a lock duration.
type Failover struct {
	// Enabled runs the heartbeat and the sweep.
	Enabled bool `mapstructure:"enabled"`
	// HeartbeatInterval is how often a replica beats (and the survivor sweeps).
	HeartbeatInterval time.Duration `mapstructure:"heartbeatInterval"`
	// DeadAfter is how old a replica's last beat must be before its tasks are unlocked. A
	// replica only slow for longer loses its tasks to others; the engine refuses its late
	// completions (the lock is gone) and handlers run at least once anyway.
	DeadAfter time.Duration `mapstructure:"deadAfter"`
}

// Retention bounds the table's growth.
type Retention struct {
	// Enabled runs the retention job.
	Enabled bool `mapstructure:"enabled"`
	// FinishedAfter deletes DONE and ERROR rows older than this.
	FinishedAfter time.Duration `mapstructure:"finishedAfter"`
	// PendingAfter marks PENDING rows older than this ERROR (expired).
	PendingAfter time.Duration `mapstructure:"pendingAfter"`
	// Interval is the job's period.
	Interval time.Duration `mapstructure:"interval"`
	// Batch is rows per statement.
	Batch int `mapstructure:"batch"`
}
