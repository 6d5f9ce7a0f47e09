package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	camundawaitroom "github.com/camunda-waitroom/camunda-waitroom"
)

// DefaultPath is the config file read when --config is not given. Its absence is not an error:
// the embedded defaults apply.
const DefaultPath = "./config.yaml"

// EnvPrefix prefixes every key's environment name.
const EnvPrefix = "WAITROOM"

// nodeServiceEnv maps the Node.js service's environment names to keys. They are read in addition to
// the WAITROOM_ names; when both are set, the WAITROOM_ name wins.
var nodeServiceEnv = map[string]string{
	"store.host":     "DB_HOST",
	"store.port":     "DB_PORT",
	"store.name":     "DB_NAME",
	"store.user":     "DB_USER",
	"store.password": "DB_PASSWORD",
	"store.dsn":      "DB_DSN",
	"store.driver":   "DB_DRIVER",
}

// The Node.js service's names whose value needs converting: SYNC_TIMEOUT_MS is milliseconds (our
// key is a duration) and PORT is a port (our key is an address).
const (
	envSyncTimeoutMS = "SYNC_TIMEOUT_MS"
	envPort          = "PORT"
)

// Source says where Load found its configuration, for the start-up log.
type Source struct {
	// File is the file read, or "" when only the embedded defaults applied.
	File string
}

// MaxFileBytes caps the config file: config.yaml is a few kilobytes, and a file that keeps
// growing (--config /dev/zero, a log file by mistake) must not fill memory.
const MaxFileBytes = 1 << 20

// Load reads the embedded defaults, then the file at path (DefaultPath when path is ""; a
// missing DefaultPath is fine, a missing explicit path is not), then the environment; decodes
// into Config rejecting unknown keys; fills derived values; and validates. getenv is os.Getenv
// in production and a map lookup in tests. Any problem comes back as *Error.
//
// Load cannot list the environment, so it does not notice misspelled WAITROOM_ names: the
// daemon calls LoadEnviron, which does.
func Load(path string, getenv func(string) string) (*Config, Source, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	return load(path, getenv, nil)
}

// LoadEnviron is Load with the environment given as a list of "NAME=value" entries (as
// os.Environ returns it). Besides what Load does, it refuses every WAITROOM_ name that is not
// a key's environment name, naming the closest known one: a misspelled name would otherwise
// be ignored and its key keep a default the operator meant to change. Names that tools
// outside the daemon set are exempt (see ignoredEnv).
func LoadEnviron(path string, environ []string) (*Config, Source, error) {
	m := make(map[string]string, len(environ))
	var names []string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := m[k]; !dup {
			names = append(names, k)
		}
		m[k] = v
	}
	return load(path, func(k string) string { return m[k] }, names)
}

func load(path string, getenv func(string) string, environNames []string) (*Config, Source, error) {
	var src Source
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(camundawaitroom.DefaultConfigYAML)); err != nil {
		return nil, src, fmt.Errorf("embedded config.yaml: %w", err)
	}

	explicit := path != ""
	if !explicit {
		path = DefaultPath
	}
	data, err := readConfigFile(path)
	switch {
	case err == nil:
		src.File = path
		if err := v.MergeConfig(bytes.NewReader(data)); err != nil {
			return nil, src, &Error{Problems: []Problem{{Key: path, Rule: "must be valid YAML: " + err.Error()}}}
		}
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		// No ./config.yaml: built-in defaults.
	default:
		return nil, src, &Error{Problems: []Problem{{Key: "--config", Value: path, Rule: "must name a readable file: " + err.Error()}}}
	}

	var problems []Problem
	if environNames != nil {
		problems = append(problems, unknownEnv(v, environNames)...)
	}
	applyEnv(v, getenv, environNames, &problems)

	cfg := &Config{}
	md := &mapstructure.Metadata{}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			finiteHook,
			durationHook,
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		Metadata:         md,
		Result:           cfg,
	})
	if err != nil {
		return nil, src, err
	}
	if err := dec.Decode(v.AllSettings()); err != nil {
		problems = append(problems, decodeProblems(err)...)
	}
	for _, k := range md.Unused {
		problems = append(problems, Problem{Key: k, Rule: "is not a known key: check its spelling against README.md (keys are case-insensitive, topic names are values)"})
	}
	cfg.resolve()
	if err := cfg.Validate(); err != nil {
		// Report rule problems too, except for keys that already failed to decode.
		bad := map[string]bool{}
		for _, p := range problems {
			bad[strings.ToLower(p.Key)] = true
		}
		for _, p := range err.(*Error).Problems {
			if !bad[strings.ToLower(p.Key)] {
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		return nil, src, &Error{Problems: problems}
	}
	return cfg, src, nil
}

// readConfigFile reads a config file of at most MaxFileBytes. It refuses what is not a
// regular file before reading: a FIFO would block until a writer comes, a device such as
// /dev/zero never ends. The file is opened non-blocking so that a FIFO swapped in after the
// check cannot block either.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s): give the path of a YAML file", path, fileKind(st.Mode()))
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s is %d bytes, over the limit of %d: a config file is a few kilobytes of YAML", path, st.Size(), MaxFileBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s is over the limit of %d bytes: a config file is a few kilobytes of YAML", path, MaxFileBytes)
	}
	return data, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}

// applyEnv binds every known key to its WAITROOM_ name and the Node.js service's names, sets
// store.params entries from WAITROOM_STORE_PARAMS_<NAME> names (when the environment can be
// listed), and converts SYNC_TIMEOUT_MS and PORT.
func applyEnv(v *viper.Viper, getenv func(string) string, environNames []string, problems *[]Problem) {
	for _, name := range environNames {
		if p, ok := strings.CutPrefix(name, envParamsPrefix); ok && p != "" {
			if val := getenv(name); val != "" {
				v.Set("store.params."+strings.ToLower(p), val)
			}
		}
	}
	for _, key := range v.AllKeys() {
		if val := getenv(EnvName(key)); val != "" {
			v.Set(key, val)
			continue
		}
		if name, ok := nodeServiceEnv[key]; ok {
			if val := getenv(name); val != "" {
				v.Set(key, val)
			}
		}
	}
	if s := getenv(envSyncTimeoutMS); s != "" && getenv(EnvName("waitroom.timeout")) == "" {
		ms, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || ms <= 0 {
			*problems = append(*problems, Problem{Key: "waitroom.timeout", Env: envSyncTimeoutMS, Value: s, Rule: "must be a positive whole number of milliseconds, e.g. 25000"})
		} else {
			v.Set("waitroom.timeout", time.Duration(ms)*time.Millisecond)
		}
	}
	if s := getenv(envPort); s != "" && getenv(EnvName("http.addr")) == "" {
		p, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || p < 1 || p > 65535 {
			*problems = append(*problems, Problem{Key: "http.addr", Env: envPort, Value: s, Rule: "must be a port number from 1 to 65535"})
		} else {
			v.Set("http.addr", ":"+strconv.Itoa(p))
		}
	}
}

// envParamsPrefix prefixes environment names that set one store.params entry each:
// WAITROOM_STORE_PARAMS_ENCRYPT=true sets store.params.encrypt.
const envParamsPrefix = EnvPrefix + "_STORE_PARAMS_"

// ignoredEnv are WAITROOM_ names that are not configuration and must not fail start-up:
//   - Kubernetes service links: a Service named "waitroom" gives every pod in its namespace
//     WAITROOM_SERVICE_HOST, WAITROOM_SERVICE_PORT*, WAITROOM_PORT and WAITROOM_PORT_*;
//   - the test and development tools of this repository (WAITROOM_TEST_*, WAITROOM_APP_* for
//     the re-executed test binary, WAITROOM_PG_* for scripts/postgres.sh), which a developer's
//     shell may export.
func ignoredEnv(name string) bool {
	if name == EnvPrefix+"_PORT" {
		return true
	}
	for _, p := range []string{"_SERVICE_", "_PORT_", "_TEST_", "_APP_", "_PG_"} {
		if strings.HasPrefix(name, EnvPrefix+p) {
			return true
		}
	}
	return false
}

// unknownEnv reports every WAITROOM_ name in names that no key has, with the closest known
// name. Known names are those of the keys in v (the embedded defaults and the config file),
// and WAITROOM_STORE_PARAMS_<NAME>.
func unknownEnv(v *viper.Viper, names []string) []Problem {
	known := map[string]bool{}
	var list []string
	for _, k := range v.AllKeys() {
		n := EnvName(k)
		known[n] = true
		list = append(list, n)
	}
	sort.Strings(list)
	var out []Problem
	for _, n := range names {
		if !strings.HasPrefix(n, EnvPrefix+"_") || known[n] || ignoredEnv(n) {
			continue
		}
		if strings.HasPrefix(n, envParamsPrefix) && len(n) > len(envParamsPrefix) {
			continue
		}
		rule := "is not a known environment name: unset it or correct its spelling (README.md lists every name)"
		if c := closest(n, list); c != "" {
			rule = fmt.Sprintf("is not a known environment name: did you mean %s? (README.md lists every name)", c)
		}
		out = append(out, Problem{Env: n, Rule: rule})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out
}

// closest returns the name in list nearest to name by edit distance, or "" when none is near
// enough to be a plausible misspelling (more than a third of the name differs).
func closest(name string, list []string) string {
	best, bestD := "", len(name)/3+1
	for _, c := range list {
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes; names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// EnvName is a key's WAITROOM_ environment name: store.maxBodyBytes -> WAITROOM_STORE_MAXBODYBYTES.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// EnvNames lists every environment name of a key: its WAITROOM_ name, then its Node.js service
// name.
func EnvNames(key string) []string {
	names := []string{EnvName(key)}
	if n, ok := nodeServiceEnv[strings.ToLower(key)]; ok {
		names = append(names, n)
	}
	switch strings.ToLower(key) {
	case "waitroom.timeout":
		names = append(names, envSyncTimeoutMS)
	case "http.addr":
		names = append(names, envPort)
	}
	return names
}

// finiteHook refuses NaN and infinities for numeric keys: YAML spells them .nan and .inf, the
// environment NaN and Inf, and every range check (f <= 0 || f >= 1) is false for NaN, so one
// would pass validation and disable the feature it configures. Integers would get whatever
// the float conversion makes of them.
func finiteHook(from, to reflect.Type, data any) (any, error) {
	switch to.Kind() {
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
	default:
		return data, nil
	}
	var f float64
	switch d := data.(type) {
	case float64:
		f = d
	case float32:
		f = float64(d)
	case string:
		p, err := strconv.ParseFloat(strings.TrimSpace(d), 64)
		if err != nil {
			return data, nil
		}
		f = p
	default:
		return data, nil
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%v is not a finite number: give a number, e.g. 0.5", data)
	}
	return data, nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// durationHook parses duration strings ("30s") and refuses bare numbers: mapstructure would
// read `lockDuration: 30000` as 30 microseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch d := data.(type) {
	case time.Duration:
		return d, nil
	case string:
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration: write a number with a unit, e.g. 500ms, 30s, 5m, 168h", d)
		}
		return dur, nil
	case int, int64, float64, uint, uint64, int32:
		return nil, fmt.Errorf("%v has no unit: write a duration with a unit, e.g. 30s or 500ms", d)
	}
	return data, nil
}

// decodeProblems turns mapstructure's joined errors into one Problem per key.
func decodeProblems(err error) []Problem {
	var out []Problem
	var walk func(error)
	walk = func(e error) {
		if de, ok := e.(*mapstructure.DecodeError); ok {
			key := de.Name()
			rule := de.Unwrap().Error()
			if isSecretKey(key) {
				rule = "has the wrong type (value redacted)"
			}
			out = append(out, Problem{Key: key, Rule: rule})
			return
		}
		// mapstructure wraps the joined per-key errors in one more error: walk down to
		// every key's own error, not just the first.
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if inner := errors.Unwrap(e); inner != nil {
			walk(inner)
			return
		}
		out = append(out, Problem{Rule: e.Error()})
	}
	walk(err)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
