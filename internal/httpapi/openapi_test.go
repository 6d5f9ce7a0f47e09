package httpapi

// Tests that hold openapi.json to the code: the routes the server registers, the problem types
// the code writes, the id, key and wait rules, the document's validity as OpenAPI 3.1 and its
// examples against their own schemas. The contract test (internal/contracttest) holds a running
// daemon to it.

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// openAPIDoc is the checked-in document as generic JSON.
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc), "openapi.json is not JSON")
	return doc
}

// at walks a JSON document along a path of member names.
func at(t *testing.T, v any, path ...string) any {
	t.Helper()
	for i, p := range path {
		m, ok := v.(map[string]any)
		require.True(t, ok, "%s is not an object", strings.Join(path[:i], "/"))
		v, ok = m[p]
		require.True(t, ok, "%s is missing", strings.Join(path[:i+1], "/"))
	}
	return v
}

// fullServer is a server with every route registered (/metrics needs a Gatherer).
func fullServer(t *testing.T) *testAPI {
	reg := prometheus.NewRegistry()
	return newTestAPI(t, func(c *Config) { c.Registerer, c.Gatherer = reg, reg })
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPIDescribesEveryRoute fails when a route is added to the server and not to the
// document, or the other way round. The server's side is what route() recorded.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	served := slices.Clone(fullServer(t).routes)
	sort.Strings(served)

	var documented []string
	for path, item := range at(t, openAPIDoc(t), "paths").(map[string]any) {
		for _, m := range httpMethods {
			if _, ok := item.(map[string]any)[m]; ok {
				documented = append(documented, strings.ToUpper(m)+" "+path)
			}
		}
	}
	sort.Strings(documented)
	require.Equal(t, served, documented, "routes the server registers (left) and operations openapi.json describes (right) differ")
	require.Contains(t, served, "GET /openapi.json")
}

// TestOpenAPIServedIsCheckedIn: GET /openapi.json answers the file in this directory, byte for
// byte, open to clients without a token.
func TestOpenAPIServedIsCheckedIn(t *testing.T) {
	want, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	api := newTestAPI(t, func(c *Config) { c.AuthToken = "s3cret-token" })
	rec := api.send(http.MethodGet, "/openapi.json", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	got, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "the served document is not the checked-in openapi.json")
	require.Equal(t, want, OpenAPI())
}

// TestOpenAPIIsValid validates the document against the OpenAPI 3.1 schema and builds its
// model (which resolves every $ref).
func TestOpenAPIIsValid(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	doc, err := libopenapi.NewDocument(raw)
	require.NoError(t, err)
	require.Equal(t, "3.1.0", doc.GetVersion())
	model, err := doc.BuildV3Model()
	require.NoError(t, err, "build the OpenAPI 3.1 model")
	require.NotNil(t, model)
	v, errs := validator.NewValidator(doc)
	require.Empty(t, errs)
	ok, verrs := v.ValidateDocument()
	for _, e := range verrs {
		t.Errorf("openapi.json: %s: %s (line %d)", e.Message, e.Reason, e.SpecLine)
	}
	require.True(t, ok, "openapi.json is not a valid OpenAPI 3.1 document")
}

// TestOpenAPIExamplesMatchTheirSchemas compiles every schema of the document as JSON Schema
// 2020-12 (the dialect of OpenAPI 3.1) and validates every example against the schema beside
// it: media-type and parameter examples, and the examples keyword of schemas.
func TestOpenAPIExamplesMatchTheirSchemas(t *testing.T) {
	doc := openAPIDoc(t)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	require.NoError(t, c.AddResource("openapi.json", doc))
	compile := func(ptr string) *jsonschema.Schema {
		t.Helper()
		s, err := c.Compile("openapi.json#" + ptr)
		require.NoError(t, err, "schema at %s", ptr)
		return s
	}
	escape := func(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }
	checked := 0
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["schema"]; ok {
				if exs, ok := v["examples"].(map[string]any); ok {
					s := compile(ptr + "/schema")
					for name, ex := range exs {
						err := s.Validate(at(t, ex, "value"))
						require.NoError(t, err, "example %s at %s", name, ptr)
						checked++
					}
				}
			}
			if strings.Contains(ptr, "/schemas/") || strings.HasSuffix(ptr, "/schema") {
				if exs, ok := v["examples"].([]any); ok {
					s := compile(ptr)
					for i, ex := range exs {
						require.NoError(t, s.Validate(ex), "examples[%d] at %s", i, ptr)
						checked++
					}
				}
			}
			for k, child := range v {
				walk(child, ptr+"/"+escape(k))
			}
		case []any:
			for i, child := range v {
				walk(child, ptr+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "")
	require.Greater(t, checked, 20, "the walk found too few examples: is the document's shape still what it looks for?")
	for name := range at(t, doc, "components", "schemas").(map[string]any) {
		compile("/components/schemas/" + escape(name))
	}
}

// TestOpenAPIProblemTypesAreTheCodes: the document's ProblemType enum is exactly the set of
// problem types the package's code writes, and each response lists only types of that set.
// The code's set is read from the source: the Type of every Problem literal, and the string
// literals assigned to or passed as a variable or parameter named typ.
func TestOpenAPIProblemTypesAreTheCodes(t *testing.T) {
	code := problemTypesInSource(t)
	require.GreaterOrEqual(t, len(code), 20, "too few problem types found in the source: %v", code)

	doc := openAPIDoc(t)
	var documented []string
	for _, v := range at(t, doc, "components", "schemas", "ProblemType", "enum").([]any) {
		s := v.(string)
		require.True(t, strings.HasPrefix(s, problemTypeBase), "%s does not start with %s", s, problemTypeBase)
		documented = append(documented, strings.TrimPrefix(s, problemTypeBase))
	}
	sort.Strings(documented)
	require.Equal(t, code, documented, "problem types written by the code (left) and listed in ProblemType (right) differ")

	// Every type a response names is one of them (TypedVariable's "type" is a variable's).
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		switch v := v.(type) {
		case map[string]any:
			if typ, ok := v["type"].(map[string]any); ok && !strings.Contains(ptr, "/TypedVariable/") {
				var names []any
				if c, ok := typ["const"]; ok {
					names = append(names, c)
				}
				if e, ok := typ["enum"].([]any); ok && !strings.HasSuffix(ptr, "/ProblemType") {
					names = append(names, e...)
				}
				for _, n := range names {
					require.Contains(t, documented, strings.TrimPrefix(fmt.Sprint(n), problemTypeBase), "problem type at %s", ptr)
				}
			}
			for k, child := range v {
				walk(child, ptr+"/"+k)
			}
		case []any:
			for i, child := range v {
				walk(child, fmt.Sprintf("%s/%d", ptr, i))
			}
		}
	}
	walk(doc, "")
}

// problemTypesInSource parses the package's non-test files and returns the problem types they
// write, sorted. A Problem literal whose Type it cannot resolve fails the test, so a new way of
// naming a type cannot slip past it.
func problemTypesInSource(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	// Parameters named typ, by function, to read the literal passed for them.
	typParam := map[string]int{}
	var parsed []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		parsed = append(parsed, f)
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			i := 0
			for _, field := range fn.Type.Params.List {
				for _, n := range field.Names {
					if n.Name == "typ" {
						typParam[fn.Name.Name] = i
					}
					i++
				}
			}
		}
	}
	set := map[string]bool{}
	lit := func(e ast.Expr) (string, bool) {
		b, ok := e.(*ast.BasicLit)
		if !ok || b.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(b.Value)
		return s, err == nil
	}
	for _, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if id, ok := n.Type.(*ast.Ident); !ok || id.Name != "Problem" {
					return true
				}
				for _, el := range n.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if !ok || fmt.Sprint(kv.Key) != "Type" {
						continue
					}
					if s, ok := lit(kv.Value); ok {
						set[s] = true
					} else if id, ok := kv.Value.(*ast.Ident); !ok || id.Name != "typ" {
						t.Errorf("%s: a Problem's Type is neither a string literal nor typ: extend this test", fset.Position(kv.Pos()))
					}
				}
			case *ast.AssignStmt:
				for i, l := range n.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name == "typ" && i < len(n.Rhs) {
						if s, ok := lit(n.Rhs[i]); ok {
							set[s] = true
						}
					}
				}
			case *ast.CallExpr:
				name := ""
				switch fn := n.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					name = fn.Sel.Name
				}
				if i, ok := typParam[name]; ok && i < len(n.Args) {
					if s, ok := lit(n.Args[i]); ok {
						set[s] = true
					}
				}
			}
			return true
		})
	}
	var out []string
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIRulesAreTheCodes: the document's patterns accept exactly what the handlers accept,
// asked through the handlers themselves: correlation ids in paths and in the start body, process
// keys and waits.
func TestOpenAPIRulesAreTheCodes(t *testing.T) {
	doc := openAPIDoc(t)
	schemas := at(t, doc, "components", "schemas")
	pattern := func(v any) *regexp.Regexp { return regexp.MustCompile(v.(string)) }
	api := newTestAPI(t, nil)
	// problemType answers the problem type of a 400 answer, or "" for any other status.
	problemType := func(method, path, body string) string {
		ct := ""
		if body != "" {
			ct = "application/json"
		}
		rec := api.send(method, path, ct, body)
		if rec.Code != http.StatusBadRequest {
			return ""
		}
		var p struct{ Type string }
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
		return strings.TrimPrefix(p.Type, problemTypeBase)
	}

	var samples []string
	for b := 0; b < 256; b++ {
		samples = append(samples, "ab"+string([]byte{byte(b)})+"cd")
	}
	samples = append(samples, "é", "a b", "a/b", ".", "..", "order:17", "x_y", strings.Repeat("a", 64),
		strings.Repeat("a", 65), strings.Repeat("a", 255), strings.Repeat("a", 256))

	id := pattern(at(t, schemas, "CorrelationId", "pattern"))
	for _, s := range samples {
		refused := problemType(http.MethodGet, "/process/"+escapeAll(s)+"/result", "") == "invalid-correlation-id"
		require.Equal(t, !refused, id.MatchString(s), "correlation id %q in a path", s)
	}
	member := pattern(at(t, schemas, "StartRequest", "properties", "correlationId", "pattern"))
	for _, s := range append(samples, "") {
		body, err := json.Marshal(map[string]string{"correlationId": s})
		require.NoError(t, err)
		refused := problemType(http.MethodPost, "/process/p/start", string(body)) == "invalid-correlation-id"
		require.Equal(t, !refused, member.MatchString(s), "correlationId member %q", s)
	}
	key := pattern(at(t, schemas, "ProcessKey", "pattern"))
	for _, s := range samples {
		refused := problemType(http.MethodPost, "/process/"+escapeAll(s)+"/start", "") == "invalid-process-key"
		require.Equal(t, !refused, key.MatchString(s), "process key %q", s)
	}
	wait := pattern(at(t, schemas, "WaitDuration", "pattern"))
	for _, s := range []string{"", "0", "10s", "500ms", "1m30s", "1.5h", ".5s", "5.s", "1µs", "1μs", "1us", "3ns",
		"1h2m3s4ms5us6ns", "-1s", "+1s", "-0s", "+0", "1", "s", "1 s", "1S", "10x", "0s", "00", "1e3s", ".s",
		"1.2.3s", "9999999999999999h", "99999999999999999999ns"} {
		refused := problemType(http.MethodGet, "/process/x/result?wait="+url.QueryEscape(s), "") == "invalid-wait"
		require.Equal(t, !refused, wait.MatchString(s), "wait %q", s)
	}
}

// escapeAll percent-encodes every byte of s but letters and digits, so that no byte of it
// changes the path's structure (a slash, a dot segment) on its way to the handler.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// TestLocationReachesTheResult: the Location a start answers, resolved as a client resolves a
// relative reference (RFC 3986, dot segments removed), is the result route of the same id, for
// every id, "." and ".." included.
func TestLocationReachesTheResult(t *testing.T) {
	api := newTestAPI(t, nil)
	base, err := url.Parse("http://api.example/")
	require.NoError(t, err)
	for _, id := range []string{"order-17", "a:b_c.d", ".", "..", "..."} {
		body, err := json.Marshal(map[string]string{"correlationId": id})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, api.send(http.MethodPost, "/process/p/start", "application/json", string(body)).Code)
		// The row is PENDING in memRoom: the result answers 202 with Location.
		rec := api.send(http.MethodGet, "/process/"+escapeAll(id)+"/result", "", "")
		require.Equal(t, http.StatusAccepted, rec.Code, "id %q: %s", id, rec.Body)
		loc, err := url.Parse(rec.Header().Get("Location"))
		require.NoError(t, err)
		target := base.ResolveReference(loc)
		rec = api.send(http.MethodGet, target.RequestURI(), "", "")
		require.Equal(t, http.StatusAccepted, rec.Code, "id %q: Location %s resolves to %s: %s", id, loc, target, rec.Body)
		var got Result
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		require.Equal(t, id, got.CorrelationID, "Location %s", loc)
	}
}
