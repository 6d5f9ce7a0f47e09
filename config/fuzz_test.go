package config

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary config files (and one environment override) to Load. Properties:
// no panic; the outcome is a valid configuration or a *Error (exit 2), never another error;
// an accepted configuration passes Validate, dumps as YAML, and the dump loads again to the
// same dump; the value of a secret key never shows in an error or the dump.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"full.good.yaml", "minimal.good.yaml", "oauth2.good.yaml", "oauth2.bad.yaml", "bad-values.bad.yaml", "nan.bad.yaml", "floors.bad.yaml", "leaks.bad.yaml", "topics.bad.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "")
	}
	f.Add([]byte("camunda:\n  lockExtensionFraction: .nan\n"), "0.5")
	f.Add([]byte("store:\n  params: {fedauth: x}\n"), "")
	f.Add([]byte("a: &a [*a]\n"), "")
	f.Add([]byte("retention: {interval: 1ns}\n"), "1s")
	f.Fuzz(func(t *testing.T, data []byte, envValue string) {
		if len(data) > 64<<10 || strings.ContainsRune(envValue, 0) {
			return
		}
		const secret = "Zq9SecretXk7"
		path := filepath.Join(t.TempDir(), "c.yaml")
		// The fuzzed file plus a secret in every secret key through the environment.
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{
			"WAITROOM_STORE_PASSWORD":                secret,
			"WAITROOM_HTTP_AUTHTOKEN":                secret,
			"WAITROOM_CAMUNDA_LOCKEXTENSIONFRACTION": envValue,
		}
		// The engine login is basic or OAuth2 (they exclude each other), by the file's length.
		if len(data)%2 == 0 {
			env["WAITROOM_CAMUNDA_AUTH_USERNAME"] = "u"
			env["WAITROOM_CAMUNDA_AUTH_PASSWORD"] = secret
		} else {
			env["WAITROOM_CAMUNDA_AUTH_OAUTH2_TOKENURL"] = "https://idp-user:" + secret + "@login.example/token"
			env["WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTID"] = "camunda-waitroom"
			env["WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTSECRET"] = secret
		}
		c, _, err := Load(path, func(k string) string { return env[k] })
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("not a *config.Error: %T %v", err, err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("a secret leaked into the error: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load accepted what Validate refuses: %v", err)
		}
		dump, err := c.DumpYAML()
		if err != nil {
			t.Fatalf("dump: %v", err)
		}
		if strings.Contains(string(dump), secret) {
			t.Fatalf("a secret leaked into the dump:\n%s", dump)
		}
	})
}

// FuzzRedactDSN writes a generated secret into every place a connection string or URL can
// hold one, correctly quoted for its form, and checks that RedactDSN shows none of it. The
// secret is framed by two markers that occur nowhere else, so a leak of either end of it is
// caught, whatever its characters.
func FuzzRedactDSN(f *testing.F) {
	for _, s := range []string{"pw", `p"w`, "p#w", "p%zzw", "p/w?x", "p@w", "p w", "p;w=x", "p'w", "p}w", `p\w`, "p&x=y", "://", "\n"} {
		for form := range dsnForms {
			f.Add(uint8(form), s)
		}
	}
	f.Fuzz(func(t *testing.T, form uint8, s string) {
		secret := "Zq9" + s + "Xk7"
		dsn := dsnForms[int(form)%len(dsnForms)](secret)
		got := RedactDSN(dsn)
		if strings.Contains(got, "Zq9") || strings.Contains(got, "Xk7") {
			t.Fatalf("secret shown:\n dsn:  %q\n shown: %q", dsn, got)
		}
		if again := RedactDSN(got); again != got {
			t.Fatalf("not stable: %q -> %q", got, again)
		}
	})
}

// dsnForms place a secret in a DSN, quoted as each form requires.
var dsnForms = []func(secret string) string{
	func(s string) string { return "postgres://user:" + s + "@db:5432/app?sslmode=disable" },          // raw user info
	func(s string) string { return "postgres://" + s + "@db/app" },                                    // a token as the user
	func(s string) string { return "postgres://u@db/app?sslpassword=" + url.QueryEscape(s) + "&x=1" }, // query parameter
	func(s string) string { return "postgres:///app?host=/run/pg&password=" + url.QueryEscape(s) },    // Unix socket
	func(s string) string {
		return "server=db;user id=u;password={" + strings.ReplaceAll(s, "}", "}}") + "};database=d"
	}, // ODBC braces
	func(s string) string {
		return `Server=db;Password="` + strings.ReplaceAll(s, `"`, `""`) + `";Database=d`
	}, // ADO double quotes
	func(s string) string {
		r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
		return "host=db user=u password='" + r.Replace(s) + "' dbname=d"
	}, // libpq
	func(s string) string { return "file:/data/w.db?_auth_user=u&_auth_pass=" + url.QueryEscape(s) }, // SQLite
	func(s string) string { return "sqlserver://db?database=d&fedauth=x&clientsecret=" + url.QueryEscape(s) },
	func(s string) string { return "http://u:" + s + "@engine:8080/engine-rest" }, // camunda.url
}
