package config

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Problem is one thing wrong with the configuration: the key, the environment name it came
// from when that was the source, the value (secrets redacted) and the rule it breaks.
type Problem struct {
	Key   string
	Env   string
	Value string
	Rule  string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Key != "" {
		b.WriteString(p.Key)
	}
	switch {
	case p.Env != "" && p.Key != "":
		fmt.Fprintf(&b, " (env %s)", p.Env)
	case p.Env != "":
		fmt.Fprintf(&b, "env %s", p.Env)
	}
	if p.Value != "" {
		fmt.Fprintf(&b, " = %q", p.Value)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Rule)
	return b.String()
}

// Error is an invalid configuration: every problem found, not just the first. The daemon exits
// with ExitCode when Load returns one.
type Error struct {
	Problems []Problem
}

// ExitCode is the process exit code for an invalid configuration.
const ExitCode = 2

func (e *Error) Error() string {
	lines := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		lines = append(lines, "  - "+p.String())
	}
	return "invalid configuration:\n" + strings.Join(lines, "\n")
}

// tenantPattern is what camunda.tenantId accepts: the engine's tenant id columns are
// VARCHAR(64), and the id appears in REST paths (/tenant-id/{id}/start).
var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// idPattern is the correlation id rule of repo.ValidateID, which instance ids follow too.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// processKeyPattern is the HTTP API's rule for a process definition key.
var processKeyPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,255}$`)

// Drivers the store supports.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
	DriverMSSQL    = "mssql"
)

// Handler outcome for a correlation id that has no row (Result.OnMissingRow).
const (
	MissingRowInsert = "insert"
	MissingRowIgnore = "ignore"
	MissingRowFail   = "fail"
)

// Topic defaults for fields a topic entry leaves out. Lists replace lists in YAML, so these
// cannot come from config.yaml.
const (
	DefaultLockDuration        = 30 * time.Second
	DefaultMaxTasks            = 10
	DefaultMaxParallel         = 10
	DefaultRetries             = 3
	DefaultRetryInitial        = time.Second
	DefaultRetryMax            = time.Minute
	DefaultCorrelationVariable = "correlationId"
	DefaultOnMissingRow        = MissingRowInsert
	// MaxAsyncResponseTimeout is the engine's limit for long polling (it answers 400 above).
	MaxAsyncResponseTimeout = 30 * time.Minute
)

// Floors of periods and backoffs: below them a loop spins (the CPU while the engine is down,
// the database for retention, the engine for lock extensions) instead of waiting.
const (
	// MinAsyncResponseTimeout: an empty poll returns at once below it, and the next starts.
	MinAsyncResponseTimeout = time.Second
	// MinBackoff floors camunda.pollBackoff.initial and topics[].retryBackoff.initial.
	MinBackoff = 100 * time.Millisecond
	// MinBreakerOpenFor: the open circuit lets a trial call through after this.
	MinBreakerOpenFor = 100 * time.Millisecond
	// MinRetentionInterval: the retention job runs its statements this often at most.
	MinRetentionInterval = time.Second
	// MinLockExtensionFraction: with the 1s floor of lockDuration, a lock is extended at most
	// every 100ms.
	MinLockExtensionFraction = 0.1
)

// resolve fills values derived from others: the store driver and DSN, the worker id, topic
// defaults. It runs before Validate.
func (c *Config) resolve() {
	if c.Instance.ID == "" {
		c.Instance.ID = generateInstanceID()
	}
	if c.Camunda.WorkerID == "" {
		c.Camunda.WorkerID = bootWorkerID(c.Instance.ID)
	}
	s := &c.Store
	s.Driver = strings.ToLower(strings.TrimSpace(s.Driver))
	if s.Driver == "" {
		if s.Host != "" {
			s.Driver = DriverMSSQL
		} else {
			s.Driver = DriverSQLite
		}
	}
	if s.Host != "" && (s.Driver == DriverMSSQL || s.Driver == DriverPostgres) && (s.DSN == "" || s.DSN == defaultSQLiteDSN) {
		s.DSN = ""
	}
	for i := range c.Topics {
		t := &c.Topics[i]
		if t.Handler == "" {
			t.Handler = t.Name
		}
		if c.Camunda.TenantID != "" && len(t.TenantIDIn) == 0 && !t.WithoutTenantID {
			t.TenantIDIn = []string{c.Camunda.TenantID}
		}
		if t.LockDuration == 0 {
			t.LockDuration = DefaultLockDuration
		}
		if t.MaxTasks == 0 {
			t.MaxTasks = DefaultMaxTasks
		}
		if t.MaxParallel == 0 {
			t.MaxParallel = DefaultMaxParallel
		}
		if t.Retries == 0 {
			t.Retries = DefaultRetries
		}
		if t.RetryBackoff.Initial == 0 {
			t.RetryBackoff.Initial = DefaultRetryInitial
		}
		if t.RetryBackoff.Max == 0 {
			t.RetryBackoff.Max = DefaultRetryMax
		}
		if t.Result.CorrelationVariable == "" {
			t.Result.CorrelationVariable = DefaultCorrelationVariable
		}
		if t.Result.OnMissingRow == "" {
			t.Result.OnMissingRow = DefaultOnMissingRow
		}
	}
}

// generateInstanceID is the host name plus a random suffix: unique per replica even when
// replicas share a host name pattern, and readable in Camunda's task list.
func generateInstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := host + "-" + hex.EncodeToString(b[:])
	if len(id) > 64 {
		id = id[len(id)-64:]
	}
	return id
}

// bootWorkerID is the default Camunda worker id: the instance id plus a suffix new at each
// start. A killed replica's last long poll stays queued in the engine until its
// asyncResponseTimeout and locks tasks for its worker id; a restarted replica under the same
// id would neither work them (it did not fetch them) nor let the failover sweep unlock them
// (the id beats again). With a new id per start the old one goes silent and is swept.
func bootWorkerID(instanceID string) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	suffix := "." + hex.EncodeToString(b[:])
	if len(instanceID)+len(suffix) > 64 {
		instanceID = instanceID[:64-len(suffix)]
	}
	return instanceID + suffix
}

// entraWorkflows are the fedauth values go-mssqldb's azuread driver knows
// (azuread/configuration.go of v1.11.2), for store.params.fedauth.
var entraWorkflows = []string{
	"ActiveDirectoryDefault", "ActiveDirectoryManagedIdentity", "ActiveDirectoryMSI",
	"ActiveDirectoryServicePrincipal", "ActiveDirectoryApplication", "ActiveDirectoryServicePrincipalAccessToken", "ActiveDirectoryPassword",
	"ActiveDirectoryWorkloadIdentity", "ActiveDirectoryEnvironment", "ActiveDirectoryAzCli",
	"ActiveDirectoryAzureDeveloperCli", "ActiveDirectoryAzurePipelines", "ActiveDirectoryInteractive",
	"ActiveDirectoryDeviceCode", "ActiveDirectoryIntegrated", "ActiveDirectoryClientAssertion",
	"ActiveDirectoryOnBehalfOf",
}

// defaultSQLiteDSN is config.yaml's store.dsn; setting DB_HOST replaces it with a built DSN.
const defaultSQLiteDSN = "file:waitroom.db"

// StoreDSN is the connection string for the store driver: store.dsn when set, else built from
// host, port, name, user, password and params.
func (c *Config) StoreDSN() string {
	s := c.Store
	if s.DSN != "" {
		return s.DSN
	}
	q := url.Values{}
	for k, v := range s.Params {
		q.Set(k, v)
	}
	u := url.URL{}
	if s.User != "" || s.Password != "" { // an Entra ID login may have neither
		u.User = url.UserPassword(s.User, s.Password)
	}
	switch s.Driver {
	case DriverMSSQL:
		port := s.Port
		if port == 0 {
			port = 1433
		}
		u.Scheme = "sqlserver"
		u.Host = net.JoinHostPort(s.Host, strconv.Itoa(port))
		q.Set("database", s.Name)
		if q.Get("app name") == "" {
			q.Set("app name", "camunda-waitroom")
		}
	case DriverPostgres:
		port := s.Port
		if port == 0 {
			port = 5432
		}
		u.Scheme = "postgres"
		u.Host = net.JoinHostPort(s.Host, strconv.Itoa(port))
		u.Path = "/" + s.Name
	default:
		return ""
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Validate checks every rule and returns *Error listing all problems, or nil.
func (c *Config) Validate() error {
	var ps []Problem
	add := func(key string, value any, rule string, args ...any) {
		v := fmt.Sprint(value)
		if isSecretKey(key) {
			v = redactedValue(key, v)
		}
		ps = append(ps, Problem{Key: key, Value: v, Rule: fmt.Sprintf(rule, args...)})
	}
	oneOf := func(key, value string, allowed ...string) {
		for _, a := range allowed {
			if value == a {
				return
			}
		}
		add(key, value, "must be one of %s", strings.Join(quoteAll(allowed), ", "))
	}
	positiveDur := func(key string, d time.Duration) {
		if d <= 0 {
			add(key, d, "must be a positive duration, e.g. 30s")
		}
	}
	atLeast := func(key string, d, floor time.Duration) {
		if d < floor {
			add(key, d, "must be at least %s (a shorter period spins instead of waiting)", floor)
		}
	}

	// The instance id is the owner column (VARCHAR(64)) and the Camunda worker id.
	if !idPattern.MatchString(c.Instance.ID) {
		add("instance.id", c.Instance.ID, "must be 1 to 64 characters from [A-Za-z0-9._:-] (it is stored as the owner of this instance's rows)")
	}
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "json", "console")

	s := c.Store
	oneOf("store.driver", s.Driver, DriverSQLite, DriverPostgres, DriverMSSQL)
	switch s.Driver {
	case DriverSQLite:
		if s.DSN == "" {
			add("store.dsn", "", "is required for the sqlite driver: a file path or file: URI, e.g. file:waitroom.db")
		}
	case DriverPostgres, DriverMSSQL:
		fedauth := s.Params["fedauth"]
		if fedauth != "" && s.Driver != DriverMSSQL {
			add("store.params.fedauth", fedauth, "is for the mssql driver only (Entra ID logins to SQL Server and Azure SQL)")
		}
		if fedauth != "" && s.Driver == DriverMSSQL && !slices.ContainsFunc(entraWorkflows, func(w string) bool { return strings.EqualFold(w, fedauth) }) {
			add("store.params.fedauth", fedauth, "must be one of go-mssqldb's Entra ID workflows: %s", strings.Join(entraWorkflows, ", "))
		}
		needUser, needPassword := true, true
		if fedauth != "" && s.Driver == DriverMSSQL {
			// Entra ID: a password only for ActiveDirectoryPassword, a user (or client id)
			// only for it and the service-principal workflows.
			needPassword = strings.EqualFold(fedauth, "ActiveDirectoryPassword")
			needUser = needPassword || strings.EqualFold(fedauth, "ActiveDirectoryServicePrincipal") || strings.EqualFold(fedauth, "ActiveDirectoryApplication")
		}
		if s.DSN == "" {
			if s.Host == "" {
				add("store.host", "", "is required for the %s driver when store.dsn (DB_DSN) is empty: set DB_HOST or a full DB_DSN", s.Driver)
			}
			if s.Name == "" {
				add("store.name", "", "is required for the %s driver when store.dsn (DB_DSN) is empty: set DB_NAME", s.Driver)
			}
			if s.User == "" && needUser {
				add("store.user", "", "is required for the %s driver when store.dsn (DB_DSN) is empty: set DB_USER", s.Driver)
			}
			if s.Password == "" && needPassword {
				add("store.password", "", "is required for the %s driver when store.dsn (DB_DSN) is empty: set DB_PASSWORD", s.Driver)
			}
		} else if s.Driver == DriverMSSQL && !strings.HasPrefix(strings.ToLower(s.DSN), "sqlserver://") && !strings.Contains(strings.ToLower(s.DSN), "server=") {
			add("store.dsn", s.DSN, "must be a SQL Server connection string: sqlserver://user:pass@host:1433?database=db or server=...;user id=...;password=...;database=...")
		} else if s.Driver == DriverPostgres && !strings.HasPrefix(s.DSN, "postgres://") && !strings.HasPrefix(s.DSN, "postgresql://") && !strings.Contains(s.DSN, "host=") {
			add("store.dsn", s.DSN, "must be a PostgreSQL connection string: postgres://user:pass@host:5432/db or host=... user=... dbname=...")
		}
	}
	if urlScheme.MatchString(s.DSN) {
		// A driver that cannot parse the URL, or parses it differently (pgx splits a user
		// info with two @ at the first one), connects somewhere else and quotes the rest of
		// the password as a host name in its errors. (The parse error is not shown: it
		// repeats the URL.)
		rest := s.DSN[urlScheme.FindStringIndex(s.DSN)[1]:]
		userinfo := rest[:max(strings.LastIndexByte(rest, '@'), 0)]
		if _, err := url.Parse(s.DSN); err != nil || strings.Contains(userinfo, "@") {
			add("store.dsn", s.DSN, "is not a valid URL: percent-encode reserved characters in the user name and password (@ as %%40, : as %%3A, / as %%2F, ? as %%3F, # as %%23, %% as %%25, space as %%20)")
		}
	}
	if s.Port < 0 || s.Port > 65535 {
		add("store.port", s.Port, "must be a port from 1 to 65535, or 0 for the driver's default")
	}
	if s.MaxBodyBytes < 1024 || s.MaxBodyBytes > 64<<20 {
		add("store.maxBodyBytes", s.MaxBodyBytes, "must be from 1024 to 67108864 bytes")
	}
	if s.MaxOpenConns < 1 {
		add("store.maxOpenConns", s.MaxOpenConns, "must be at least 1")
	}
	positiveDur("store.connectTimeout", s.ConnectTimeout)
	positiveDur("store.migrateTimeout", s.MigrateTimeout)
	if s.BreakerFailures < 1 {
		add("store.breakerFailures", s.BreakerFailures, "must be at least 1")
	}
	atLeast("store.breakerOpenFor", s.BreakerOpenFor, MinBreakerOpenFor)

	cam := c.Camunda
	if u, err := url.Parse(cam.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("camunda.url", cam.URL, "must be an absolute http(s) URL of the engine's REST root, e.g. http://localhost:8080/engine-rest")
	}
	if cam.TenantID != "" && !tenantPattern.MatchString(cam.TenantID) {
		add("camunda.tenantId", cam.TenantID, "must be 1 to 64 characters from [A-Za-z0-9._-] (the engine's TENANT_ID_ columns are 64 wide)")
	}
	if cam.Auth.Token != "" && (cam.Auth.Username != "" || cam.Auth.Password != "") {
		add("camunda.auth.token", cam.Auth.Token, "cannot be combined with camunda.auth.username/password: choose bearer or basic auth")
	}
	if cam.Auth.Username != "" && cam.Auth.Password == "" {
		add("camunda.auth.password", "", "is required when camunda.auth.username is set")
	}
	if cam.Auth.Password != "" && cam.Auth.Username == "" {
		add("camunda.auth.username", "", "is required when camunda.auth.password is set")
	}
	if o := cam.Auth.OAuth2; o.Enabled() {
		if cam.Auth.Token != "" || cam.Auth.Username != "" || cam.Auth.Password != "" {
			add("camunda.auth.oauth2", "", "cannot be combined with camunda.auth.username/password or camunda.auth.token: choose one login and unset the other keys")
		}
		if u, err := url.Parse(o.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("camunda.auth.oauth2.tokenUrl", o.TokenURL, "is required with camunda.auth.oauth2 and must be the absolute http(s) URL of the token endpoint, e.g. https://login.example.com/realms/x/protocol/openid-connect/token")
		}
		if o.ClientID == "" {
			add("camunda.auth.oauth2.clientId", "", "is required with camunda.auth.oauth2: the worker's client id at the authorization server")
		}
		if o.ClientSecret == "" {
			add("camunda.auth.oauth2.clientSecret", "", "is required with camunda.auth.oauth2: set it in %s rather than in the file", EnvName("camunda.auth.oauth2.clientSecret"))
		}
		for i, sc := range o.Scopes {
			if sc == "" || strings.ContainsAny(sc, " \t\r\n\"\\") {
				add(fmt.Sprintf("camunda.auth.oauth2.scopes[%d]", i), sc, "must be one scope without spaces, quotes or backslashes: list scopes one per entry, e.g. [engine-rest, openid]")
			}
		}
	}
	for _, f := range []struct{ key, path string }{
		{"camunda.tls.caFile", cam.TLS.CAFile},
		{"camunda.tls.certFile", cam.TLS.CertFile},
		{"camunda.tls.keyFile", cam.TLS.KeyFile},
	} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				add(f.key, f.path, "must name a readable PEM file: %v", err)
			}
		}
	}
	if (cam.TLS.CertFile == "") != (cam.TLS.KeyFile == "") {
		missing, set := "camunda.tls.keyFile", "camunda.tls.certFile"
		if cam.TLS.CertFile == "" {
			missing, set = set, missing
		}
		add(missing, "", "is required when %s is set: mutual TLS needs the client certificate and its private key", set)
	}
	if cam.AsyncResponseTimeout < MinAsyncResponseTimeout || cam.AsyncResponseTimeout > MaxAsyncResponseTimeout {
		add("camunda.asyncResponseTimeout", cam.AsyncResponseTimeout, "must be from %s to 30m (shorter makes every empty poll return at once, so the worker polls in a tight loop; the engine refuses longer long polls)", MinAsyncResponseTimeout)
	}
	positiveDur("camunda.requestTimeout", cam.RequestTimeout)
	oneOf("camunda.sorting", cam.Sorting, "", "createTime:asc", "createTime:desc")
	validBackoff(add, "camunda.pollBackoff", cam.PollBackoff)
	positiveDur("camunda.shutdownTimeout", cam.ShutdownTimeout)
	if cam.ShutdownTimeout > 0 && cam.ShutdownTimeout <= cam.AsyncResponseTimeout {
		// At shutdown the runtime lets the in-flight long poll answer (an aborted poll stays
		// queued in the engine and locks tasks for the stopped worker), so the stop takes up to
		// asyncResponseTimeout before handlers' time even starts to count.
		add("camunda.shutdownTimeout", cam.ShutdownTimeout, "must be longer than camunda.asyncResponseTimeout (%s): shutdown first lets the in-flight long poll answer", cam.AsyncResponseTimeout)
	}
	// Written so that NaN fails too: every comparison with NaN is false.
	if !(cam.LockExtensionFraction >= MinLockExtensionFraction && cam.LockExtensionFraction < 1) {
		add("camunda.lockExtensionFraction", cam.LockExtensionFraction, "must be at least %g and below 1, e.g. 0.5", MinLockExtensionFraction)
	}

	seen := map[string]int{}
	for i, t := range c.Topics {
		k := fmt.Sprintf("topics[%d]", i)
		if strings.TrimSpace(t.Name) == "" {
			add(k+".name", t.Name, "is required: the Camunda topic name")
		} else if j, dup := seen[t.Name]; dup {
			add(k+".name", t.Name, "is also the name of topics[%d]: each topic is subscribed once", j)
		} else {
			seen[t.Name] = i
		}
		if t.LockDuration < time.Second {
			add(k+".lockDuration", t.LockDuration, "must be at least 1s")
		}
		if t.MaxTasks < 1 || t.MaxTasks > 1000 {
			add(k+".maxTasks", t.MaxTasks, "must be from 1 to 1000")
		}
		if t.MaxParallel < 1 || t.MaxParallel > 10000 {
			add(k+".maxParallel", t.MaxParallel, "must be from 1 to 10000")
		}
		if t.Retries < 1 {
			add(k+".retries", t.Retries, "must be at least 1 (attempts before the engine raises an incident)")
		}
		validBackoff(add, k+".retryBackoff", t.RetryBackoff)
		if t.ProcessDefinitionKey != "" && len(t.ProcessDefinitionKeyIn) > 0 {
			add(k+".processDefinitionKeyIn", strings.Join(t.ProcessDefinitionKeyIn, ","), "cannot be combined with processDefinitionKey: use one of them")
		}
		if t.WithoutTenantID && len(t.TenantIDIn) > 0 {
			add(k+".withoutTenantId", true, "cannot be combined with tenantIdIn")
		}
		for j, pv := range t.ProcessVariables {
			if pv.Name == "" {
				add(fmt.Sprintf("%s.processVariables[%d].name", k, j), "", "is required")
			}
			if f, ok := pv.Value.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				add(fmt.Sprintf("%s.processVariables[%d].value", k, j), f, "must be a finite number, a string, a boolean or null (the engine's JSON has no NaN or infinity)")
			}
		}
		if t.Sorting != nil {
			oneOf(k+".sorting", *t.Sorting, "", "createTime:asc", "createTime:desc")
		}
		oneOf(k+".result.onMissingRow", t.Result.OnMissingRow, MissingRowInsert, MissingRowIgnore, MissingRowFail)
	}

	w := c.Waitroom
	positiveDur("waitroom.timeout", w.Timeout)
	if w.PollInterval < 5*time.Millisecond {
		add("waitroom.pollInterval", w.PollInterval, "must be at least 5ms")
	}
	if w.NotifyPollInterval < w.PollInterval {
		add("waitroom.notifyPollInterval", w.NotifyPollInterval, "must be at least waitroom.pollInterval (%s): it is the slower safety net", w.PollInterval)
	}
	if w.MaxWaiters < 1 {
		add("waitroom.maxWaiters", w.MaxWaiters, "must be at least 1")
	}

	h := c.HTTP
	if _, port, err := net.SplitHostPort(h.Addr); err != nil {
		add("http.addr", h.Addr, "must be host:port or :port, e.g. :8088")
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		add("http.addr", h.Addr, "must have a port from 0 to 65535")
	}
	if h.MaxBodyBytes < 1024 {
		add("http.maxBodyBytes", h.MaxBodyBytes, "must be at least 1024")
	}
	positiveDur("http.readTimeout", h.ReadTimeout)
	if h.MetricsAuth && h.AuthToken == "" {
		add("http.metricsAuth", true, "needs http.authToken: /metrics then requires that token")
	}
	if h.WriteTimeout <= w.Timeout {
		add("http.writeTimeout", h.WriteTimeout, "must be longer than waitroom.timeout (%s), or answers are cut off", w.Timeout)
	}

	for i, k := range h.StartableProcesses {
		if !processKeyPattern.MatchString(k) {
			add(fmt.Sprintf("http.startableProcesses[%d]", i), k, "must be a process definition key: 1 to 255 characters from [A-Za-z0-9._-]")
		}
	}
	if h.StartTimeout < 100*time.Millisecond {
		add("http.startTimeout", h.StartTimeout, "must be at least 100ms")
	}
	if h.StartLease < 2*h.StartTimeout || h.StartLease > 24*time.Hour {
		add("http.startLease", h.StartLease, "must be at least twice http.startTimeout (%s), so a start the engine answers late still lands inside the lease, and at most 24h", h.StartTimeout)
	}

	f := c.Failover
	if f.HeartbeatInterval < 100*time.Millisecond {
		add("failover.heartbeatInterval", f.HeartbeatInterval, "must be at least 100ms")
	}
	if f.DeadAfter < 3*f.HeartbeatInterval || f.DeadAfter > 24*time.Hour {
		add("failover.deadAfter", f.DeadAfter, "must be at least three failover.heartbeatInterval (%s), so one late beat is not a death, and at most 24h", f.HeartbeatInterval)
	}

	r := c.Retention
	positiveDur("retention.finishedAfter", r.FinishedAfter)
	if r.PendingAfter <= w.Timeout {
		add("retention.pendingAfter", r.PendingAfter, "must be longer than waitroom.timeout (%s): a shorter one marks waits ERROR (expired) while clients still wait on them", w.Timeout)
	}
	atLeast("retention.interval", r.Interval, MinRetentionInterval)
	if r.Batch < 1 || r.Batch > 10000 {
		add("retention.batch", r.Batch, "must be from 1 to 10000")
	}

	if len(ps) == 0 {
		return nil
	}
	return &Error{Problems: ps}
}

func validBackoff(add func(string, any, string, ...any), key string, b Backoff) {
	if b.Initial < MinBackoff {
		add(key+".initial", b.Initial, "must be at least %s (a shorter backoff spins instead of waiting), e.g. 1s", MinBackoff)
	}
	if b.Max < b.Initial {
		add(key+".max", b.Max, "must be at least %s.initial (%s)", key, b.Initial)
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
