package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
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

// seedEnv maps the seed service's environment names to keys. They are read in addition to the
// WAITROOM_ names; when both are set, the WAITROOM_ name wins.
var seedEnv = map[string]string{
	"store.host":     "DB_HOST",
	"store.port":     "DB_PORT",
	"store.name":     "DB_NAME",
	"store.user":     "DB_USER",
	"store.password": "DB_PASSWORD",
	"store.dsn":      "DB_DSN",
	"store.driver":   "DB_DRIVER",
}

// Special seed names whose value needs converting: SYNC_TIMEOUT_MS is milliseconds (our key is
// a duration) and PORT is a port (our key is an address).
const (
	envSyncTimeoutMS = "SYNC_TIMEOUT_MS"
	envPort          = "PORT"
)

// Source says where Load found its configuration, for the start-up log.
type Source struct {
	// File is the file read, or "" when only the embedded defaults applied.
	File string
}

// Load reads the embedded defaults, then the file at path (DefaultPath when path is ""; a
// missing DefaultPath is fine, a missing explicit path is not), then the environment; decodes
// into Config rejecting unknown keys; fills derived values; and validates. getenv is os.Getenv
// in production and a map lookup in tests. Any problem comes back as *Error.
func Load(path string, getenv func(string) string) (*Config, Source, error) {
	var src Source
	if getenv == nil {
		getenv = os.Getenv
	}
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(camundawaitroom.DefaultConfigYAML)); err != nil {
		return nil, src, fmt.Errorf("embedded config.yaml: %w", err)
	}

	explicit := path != ""
	if !explicit {
		path = DefaultPath
	}
	data, err := os.ReadFile(path)
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
	applyEnv(v, getenv, &problems)

	cfg := &Config{}
	md := &mapstructure.Metadata{}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
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

// applyEnv binds every known key to its WAITROOM_ name and the seed names, and converts
// SYNC_TIMEOUT_MS and PORT.
func applyEnv(v *viper.Viper, getenv func(string) string, problems *[]Problem) {
	for _, key := range v.AllKeys() {
		if val := getenv(EnvName(key)); val != "" {
			v.Set(key, val)
			continue
		}
		if name, ok := seedEnv[key]; ok {
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

// EnvName is a key's WAITROOM_ environment name: store.maxBodyBytes -> WAITROOM_STORE_MAXBODYBYTES.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// EnvNames lists every environment name of a key: its WAITROOM_ name, then its seed name.
func EnvNames(key string) []string {
	names := []string{EnvName(key)}
	if n, ok := seedEnv[strings.ToLower(key)]; ok {
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
	var de *mapstructure.DecodeError
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if errors.As(e, &de) {
			key := de.Name()
			rule := de.Unwrap().Error()
			if isSecretKey(key) {
				rule = "has the wrong type (value redacted)"
			}
			out = append(out, Problem{Key: key, Rule: rule})
			return
		}
		out = append(out, Problem{Rule: e.Error()})
	}
	walk(err)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
