package app

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secretPlaces put a secret where an operator may write one, in the environment, correctly
// quoted for the place. The database is unreachable in each (127.0.0.1:1, or a SQLite file in
// a missing directory), so `worker run` logs its start-up and exits with the unreachable-
// database message.
var secretPlaces = []func(dir, s string) map[string]string{
	func(_, s string) map[string]string { // built DSN: DB_PASSWORD
		return map[string]string{"WAITROOM_STORE_DRIVER": "postgres", "DB_HOST": "127.0.0.1", "DB_PORT": "1", "DB_NAME": "d", "DB_USER": "u", "DB_PASSWORD": s}
	},
	func(_, s string) map[string]string { // SQL Server, built: password and an Entra ID parameter
		return map[string]string{"DB_HOST": "127.0.0.1", "DB_PORT": "1", "DB_NAME": "d", "DB_USER": "u", "DB_PASSWORD": s, "WAITROOM_STORE_PARAMS_FEDAUTH": s}
	},
	func(_, s string) map[string]string { // URL user info, raw
		return map[string]string{"WAITROOM_STORE_DRIVER": "postgres", "DB_DSN": "postgres://u:" + s + "@127.0.0.1:1/d?sslmode=disable"}
	},
	func(_, s string) map[string]string { // URL query parameter
		return map[string]string{"WAITROOM_STORE_DRIVER": "postgres", "DB_DSN": "postgres://u@127.0.0.1:1/d?sslmode=disable&password=" + url.QueryEscape(s)}
	},
	func(_, s string) map[string]string { // libpq key=value
		r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
		return map[string]string{"WAITROOM_STORE_DRIVER": "postgres", "DB_DSN": "host=127.0.0.1 port=1 user=u password='" + r.Replace(s) + "' dbname=d sslmode=disable"}
	},
	func(_, s string) map[string]string { // SQL Server key=value, braces
		return map[string]string{"WAITROOM_STORE_DRIVER": "mssql", "DB_DSN": "server=127.0.0.1;port=1;user id=u;password={" + strings.ReplaceAll(s, "}", "}}") + "};database=d"}
	},
	func(dir, s string) map[string]string { // SQLite parameter
		return map[string]string{"WAITROOM_STORE_DSN": "file:" + filepath.Join(dir, "missing", "w.db") + "?_auth_user=u&_auth_pass=" + url.QueryEscape(s)}
	},
	func(_, s string) map[string]string { // engine URL user info, engine credentials, API token
		return map[string]string{"WAITROOM_STORE_DRIVER": "postgres", "DB_DSN": "postgres://u@127.0.0.1:1/d?sslmode=disable",
			"WAITROOM_CAMUNDA_URL": "http://u:" + s + "@127.0.0.1:1/engine-rest", "WAITROOM_CAMUNDA_AUTH_TOKEN": s, "WAITROOM_HTTP_AUTHTOKEN": s}
	},
	func(_, s string) map[string]string { // basic auth to the engine
		return map[string]string{"WAITROOM_STORE_DRIVER": "postgres", "DB_DSN": "postgres://u@127.0.0.1:1/d?sslmode=disable",
			"WAITROOM_CAMUNDA_AUTH_USERNAME": "u", "WAITROOM_CAMUNDA_AUTH_PASSWORD": s}
	},
	func(_, s string) map[string]string { // OAuth2 client credentials, and the token endpoint's URL user info
		return map[string]string{"WAITROOM_STORE_DRIVER": "postgres", "DB_DSN": "postgres://u@127.0.0.1:1/d?sslmode=disable",
			"WAITROOM_CAMUNDA_AUTH_OAUTH2_TOKENURL": "http://idp:" + s + "@127.0.0.1:1/token", "WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTID": "id",
			"WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTSECRET": s}
	},
}

// FuzzNoSecretInOutput generates a secret, puts it in each place of secretPlaces, and runs
// `worker config` and `worker run` (start-up logs, then the exit message for an unreachable
// database). No output may contain the secret. The secret is framed by two markers that occur
// nowhere else, so showing either end of it is caught, whatever its characters.
func FuzzNoSecretInOutput(f *testing.F) {
	for _, s := range []string{"pw", `p"w`, "p#w", "p%zzw", "p/w?x", "p@w", "p w", "p;w=x", "p'w", "p}w", `p\w`, "p&x=y", "p:w", "ü"} {
		for place := range secretPlaces {
			f.Add(uint8(place), s)
		}
	}
	f.Fuzz(func(t *testing.T, place uint8, s string) {
		if strings.ContainsAny(s, "\x00") || len(s) > 200 {
			return // environment values cannot hold NUL
		}
		secret := "Zq9" + s + "Xk7"
		// Not t.TempDir: its name holds '#' for seed inputs, which ends a SQLite file: URI.
		dir, err := os.MkdirTemp("", "waitroom-fuzz")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		env := secretPlaces[int(place)%len(secretPlaces)](dir, secret)
		env["WAITROOM_STORE_CONNECTTIMEOUT"] = "1ms" // one attempt, then the exit message
		env["WAITROOM_HTTP_ADDR"] = "127.0.0.1:0"
		env["WAITROOM_CAMUNDA_DEPLOYONSTART"] = "false"
		cfgPath := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(cfgPath, []byte("log: {level: info}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var environ []string
		for k, v := range env {
			environ = append(environ, k+"="+v)
		}
		for _, args := range [][]string{{"config"}, {"run"}} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			var out, errb bytes.Buffer
			code := run(ctx, append(args, "--config", cfgPath), &out, &errb, environ)
			cancel()
			// An unreachable database exits 1; a secret that makes the DSN or URL invalid
			// (a raw @ in a URL's password) exits 2, naming the key.
			if args[0] == "run" && code != ExitFailure && code != ExitConfig {
				t.Fatalf("run exited %d with an unreachable database:\n%s", code, errb.String())
			}
			all := out.String() + errb.String()
			if strings.Contains(all, "Zq9") || strings.Contains(all, "Xk7") {
				t.Fatalf("worker %s showed the secret %q (place %d):\n%s", args[0], secret, int(place)%len(secretPlaces), all)
			}
		}
	})
}
