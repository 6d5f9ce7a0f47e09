package httpapi_test

// The Grafana dashboard (deploy/grafana/camunda-waitroom.json) against the daemon's /metrics:
// every metric and label its queries use must be one the daemon exports, so a renamed metric
// or a typo in the dashboard fails here instead of drawing an empty panel in production.
//
// The metric names come from a small PromQL scanner, not from the PromQL parser: that parser
// lives in the github.com/prometheus/prometheus module, which would raise production
// dependencies (golang.org/x/net, x/crypto, the Azure SDK) for the sake of a test. The scanner
// knows what is not a metric name (strings, label matchers, ranges, grouping label lists,
// keywords, function calls, Grafana variables) and is tested on known expressions below; a
// false name it might produce makes the check fail, never pass.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
)

const dashboardPath = "../../deploy/grafana/camunda-waitroom.json"

// promMatcher is one label matcher of a selector: {name op "value"}.
type promMatcher struct{ Name, Op, Value string }

// promSelector is one vector selector: a metric name ("" when the selector has none) and its
// label matchers.
type promSelector struct {
	Metric   string
	Matchers []promMatcher
}

// promQuery is what a PromQL expression reads: its selectors, and the label names of its
// by, without, on, ignoring, group_left and group_right lists.
type promQuery struct {
	Selectors []promSelector
	Grouping  []string
}

// promKeywords are PromQL words that are never metric names (matched case-insensitively, as
// PromQL does): aggregation operators, set and binary operators, modifiers, number literals.
// Functions need no list: a name followed by "(" is a call.
var promKeywords = map[string]bool{
	"sum": true, "avg": true, "count": true, "min": true, "max": true, "group": true, "stddev": true,
	"stdvar": true, "topk": true, "bottomk": true, "count_values": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
	"and": true, "or": true, "unless": true, "atan2": true,
	"offset": true, "bool": true, "inf": true, "nan": true,
}

// promGrouping are the keywords followed by a list of label names.
var promGrouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdent(c byte) bool { return isIdentStart(c) || isDigit(c) }
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// skipVariable skips the Grafana variable at s[i]: $name or ${name…}.
func skipVariable(s string, i int) (int, error) {
	i++
	if i < len(s) && s[i] == '{' {
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return 0, fmt.Errorf("unclosed ${ in %q", s)
		}
		return i + j + 1, nil
	}
	for i < len(s) && isIdent(s[i]) {
		i++
	}
	return i, nil
}

// readString reads the quoted string at s[i] and returns its text and the index after it.
func readString(s string, i int) (string, int, error) {
	q := s[i]
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == q:
			return b.String(), j + 1, nil
		case s[j] == '\\' && q != '`' && j+1 < len(s):
			j++
			b.WriteByte(s[j])
		default:
			b.WriteByte(s[j])
		}
	}
	return "", 0, fmt.Errorf("unterminated string at offset %d", i)
}

// readName reads a label (or metric) name, bare or quoted, at s[i].
func readName(s string, i int) (string, bool, int, error) {
	if i < len(s) && (s[i] == '"' || s[i] == '\'' || s[i] == '`') {
		v, j, err := readString(s, i)
		return v, true, j, err
	}
	j := i
	for j < len(s) && isIdent(s[j]) {
		j++
	}
	if j == i {
		return "", false, 0, fmt.Errorf("expected a label name at offset %d: %q", i, s[i:])
	}
	return s[i:j], false, j, nil
}

// readMatchers reads the {…} at s[i] into sel and returns the index after it.
func readMatchers(s string, i int, sel *promSelector) (int, error) {
	i++
	for {
		i = skipSpace(s, i)
		if i >= len(s) {
			return 0, fmt.Errorf("unclosed { in %q", s)
		}
		if s[i] == '}' {
			return i + 1, nil
		}
		name, quoted, j, err := readName(s, i)
		if err != nil {
			return 0, err
		}
		i = skipSpace(s, j)
		if quoted && i < len(s) && (s[i] == ',' || s[i] == '}') {
			sel.Metric = name // {"metric.name", …}: the UTF-8 form of a metric name
		} else {
			var op string
			for _, o := range []string{"=~", "!~", "!=", "="} {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return 0, fmt.Errorf("expected =, !=, =~ or !~ after label %q at offset %d", name, i)
			}
			i = skipSpace(s, i+len(op))
			if i >= len(s) || (s[i] != '"' && s[i] != '\'' && s[i] != '`') {
				return 0, fmt.Errorf("expected a quoted value for label %q at offset %d", name, i)
			}
			value, j, err := readString(s, i)
			if err != nil {
				return 0, err
			}
			i = skipSpace(s, j)
			if name == model.MetricNameLabel && op == "=" {
				sel.Metric = value
			}
			sel.Matchers = append(sel.Matchers, promMatcher{Name: name, Op: op, Value: value})
		}
		switch {
		case i < len(s) && s[i] == ',':
			i++
		case i < len(s) && s[i] == '}':
		default:
			return 0, fmt.Errorf("expected , or } after label %q at offset %d in %q", name, i, s)
		}
	}
}

// readLabelList reads the (a, b) at s[i] and returns the names and the index after it.
func readLabelList(s string, i int) ([]string, int, error) {
	var names []string
	i++
	for {
		i = skipSpace(s, i)
		if i >= len(s) {
			return nil, 0, fmt.Errorf("unclosed label list in %q", s)
		}
		switch s[i] {
		case ')':
			return names, i + 1, nil
		case ',':
			i++
			continue
		case '$': // a variable's labels cannot be checked
			j, err := skipVariable(s, i)
			if err != nil {
				return nil, 0, err
			}
			i = j
			continue
		}
		name, _, j, err := readName(s, i)
		if err != nil {
			return nil, 0, err
		}
		names = append(names, name)
		i = j
	}
}

// parsePromQL scans a PromQL expression (with Grafana variables) for what it reads.
func parsePromQL(expr string) (promQuery, error) {
	var q promQuery
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c):
			i++
		case c == '#': // a comment, to the end of the line
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			_, j, err := readString(s, i)
			if err != nil {
				return q, err
			}
			i = j
		case c == '$':
			j, err := skipVariable(s, i)
			if err != nil {
				return q, err
			}
			i = j
		case c == '[': // a range or subquery: durations, variables, a colon
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return q, fmt.Errorf("unclosed [ in %q", s)
			}
			i += j + 1
		case c == '{': // a selector without a metric name
			var sel promSelector
			j, err := readMatchers(s, i, &sel)
			if err != nil {
				return q, err
			}
			q.Selectors = append(q.Selectors, sel)
			i = j
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])): // numbers, durations (5m30s), hex
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word, next := s[i:j], skipSpace(s, j)
			i = j
			lw := strings.ToLower(word)
			switch {
			case promGrouping[lw]:
				if next < len(s) && s[next] == '(' {
					names, k, err := readLabelList(s, next)
					if err != nil {
						return q, err
					}
					q.Grouping = append(q.Grouping, names...)
					i = k
				}
			case promKeywords[lw]:
			case next < len(s) && s[next] == '(': // a function call
			default:
				sel := promSelector{Metric: word}
				if next < len(s) && s[next] == '{' {
					k, err := readMatchers(s, next, &sel)
					if err != nil {
						return q, err
					}
					i = k
				}
				q.Selectors = append(q.Selectors, sel)
			}
		default: // operators, parentheses, commas, @
			i++
		}
	}
	return q, nil
}

func TestParsePromQL(t *testing.T) {
	t.Parallel()
	sel := func(metric string, matchers ...string) promSelector {
		s := promSelector{Metric: metric}
		for _, m := range matchers {
			s.Matchers = append(s.Matchers, promMatcher{Name: m})
		}
		return s
	}
	for _, tc := range []struct {
		expr     string
		want     []promSelector
		grouping []string
	}{
		{
			expr:     `histogram_quantile(0.95, sum by (le, route) (rate(camunda_waitroom_http_request_duration_seconds_bucket{job=~"$job", instance=~"$instance"}[$__rate_interval])))`,
			want:     []promSelector{sel("camunda_waitroom_http_request_duration_seconds_bucket", "job", "instance")},
			grouping: []string{"le", "route"},
		},
		{
			expr: `sum(rate(a_total{code=~"5.."}[5m])) BY (code) / ignoring(code) group_left sum(rate(b_total[5m:1m] offset 1h))`,
			want: []promSelector{sel("a_total", "code"), sel("b_total")}, grouping: []string{"code", "code"},
		},
		{
			expr: `up and on(instance) (x > bool 0.5e-3) unless y @ start() or topk(3, z) * 0x1F + Inf - NaN`,
			want: []promSelector{sel("up"), sel("x"), sel("y"), sel("z")}, grouping: []string{"instance"},
		},
		{ // strings hold no metric names, nor do label values that look like selectors
			expr: `label_replace(m{route="POST /process/{key}/start", s='it\'s sum(x)'}, "dst", "$1", "src", "(.*)") # comment: not_a_metric`,
			want: []promSelector{sel("m", "route", "s")},
		},
		{ // a selector without a name, a __name__ matcher, the UTF-8 form, spaces before {
			expr: `{job="a"} + {__name__="named", x!="1"} + {"dotted.name", y!~"2"} + spaced {z="3"} + time() - process_start_time_seconds`,
			want: []promSelector{sel("", "job"), sel("named", "__name__", "x"), sel("dotted.name", "y"), sel("spaced", "z"), sel("process_start_time_seconds")},
		},
		{ // Grafana variables outside strings: ${var:format}, $__range
			expr: `sum without (${group:csv}) (increase(c_total[$__range])) / ${divisor}`,
			want: []promSelector{sel("c_total")},
		},
	} {
		got, err := parsePromQL(tc.expr)
		require.NoError(t, err, tc.expr)
		for i := range got.Selectors {
			for j := range got.Selectors[i].Matchers {
				got.Selectors[i].Matchers[j].Op, got.Selectors[i].Matchers[j].Value = "", ""
			}
		}
		require.Equal(t, tc.want, got.Selectors, tc.expr)
		require.Equal(t, tc.grouping, got.Grouping, tc.expr)
	}

	q, err := parsePromQL(`m{__name__="n", route="a b", code=~"5.."}`)
	require.NoError(t, err)
	require.Equal(t, []promMatcher{{"__name__", "=", "n"}, {"route", "=", "a b"}, {"code", "=~", "5.."}}, q.Selectors[0].Matchers)

	for _, bad := range []string{`rate(x{a="b"[5m])`, `x{a="b`, `x{a}`, `x{a=b}`, `sum by (a (x)`, `x[5m`} {
		_, err := parsePromQL(bad)
		require.Error(t, err, bad)
	}
}

// dashboard is the part of the Grafana JSON model the check reads.
type dashboard struct {
	UID           string     `json:"uid"`
	Title         string     `json:"title"`
	SchemaVersion int        `json:"schemaVersion"`
	Panels        []dashItem `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *dashDatasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type dashDatasource struct{ Type, UID string }

type dashItem struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *dashDatasource `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Panels     []dashItem `json:"panels"` // a collapsed row's panels
	Targets    []struct {
		Expr         string          `json:"expr"`
		LegendFormat string          `json:"legendFormat"`
		RefID        string          `json:"refId"`
		Datasource   *dashDatasource `json:"datasource"`
	} `json:"targets"`
}

// exportedSeries maps every series name a scrape of fams holds (a histogram's _bucket, _sum
// and _count, a summary's name, _sum and _count) to the label names it carries, and each
// label to the values seen.
func exportedSeries(fams map[string]*dto.MetricFamily) map[string]map[string]map[string]bool {
	out := map[string]map[string]map[string]bool{}
	add := func(series string, extra string, m *dto.Metric) {
		labels := out[series]
		if labels == nil {
			labels = map[string]map[string]bool{}
			out[series] = labels
		}
		if extra != "" && labels[extra] == nil {
			labels[extra] = map[string]bool{}
		}
		for _, lp := range m.GetLabel() {
			if labels[lp.GetName()] == nil {
				labels[lp.GetName()] = map[string]bool{}
			}
			labels[lp.GetName()][lp.GetValue()] = true
		}
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				add(name+"_bucket", "le", m)
				add(name+"_sum", "", m)
				add(name+"_count", "", m)
			case dto.MetricType_SUMMARY:
				add(name, "quantile", m)
				add(name+"_sum", "", m)
				add(name+"_count", "", m)
			default:
				add(name, "", m)
			}
		}
	}
	return out
}

// targetLabels are added by Prometheus when it scrapes, so /metrics never shows them.
var targetLabels = map[string]bool{"job": true, "instance": true}

var legendLabel = regexp.MustCompile(`\{\{\s*([^}\s]+)\s*\}\}`)
var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// checkDashboard returns every way the dashboard disagrees with a scrape of the daemon: a
// queried series that is not exported, a label it does not carry, an equality matcher on a
// value never seen, a selector not filtered by $job and $instance, a legend naming a label the
// query has not, and the dashboard's own shape (datasource variable, ids, layout).
func checkDashboard(raw []byte, fams map[string]*dto.MetricFamily) (problems []string, queried []string) {
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return []string{"not a dashboard: " + err.Error()}, nil
	}
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if d.UID == "" || d.Title == "" {
		bad("the dashboard needs a uid and a title")
	}
	if d.SchemaVersion < 36 {
		bad("schemaVersion %d: Grafana 10 writes 38 or later", d.SchemaVersion)
	}
	series := exportedSeries(fams)
	seen := map[string]bool{}

	// checkExpr checks one expression; where names the panel and target.
	checkExpr := func(where, expr, legend string, needFilter bool) {
		q, err := parsePromQL(expr)
		if err != nil {
			bad("%s: %v", where, err)
			return
		}
		if len(q.Selectors) == 0 {
			bad("%s: the query reads no metric: %s", where, expr)
		}
		known := map[string]bool{"job": true, "instance": true}
		complete := true // every selector's labels are known, so grouping and legends can be checked
		for _, sel := range q.Selectors {
			if sel.Metric == "" {
				bad("%s: a selector without a metric name cannot be checked: %s", where, expr)
				complete = false
				continue
			}
			seen[sel.Metric] = true
			labels, ok := series[sel.Metric]
			if !ok {
				bad("%s: %s is not exported by the daemon", where, sel.Metric)
				complete = false
				continue
			}
			for l := range labels {
				known[l] = true
			}
			var filtered []string
			for _, m := range sel.Matchers {
				switch {
				case targetLabels[m.Name]:
					filtered = append(filtered, m.Name)
				case m.Name == model.MetricNameLabel:
				case labels[m.Name] == nil:
					bad("%s: %s has no label %q", where, sel.Metric, m.Name)
				case m.Op == "=" && !labels[m.Name][m.Value]:
					bad("%s: %s never has %s=%q (seen: %s)", where, sel.Metric, m.Name, m.Value, strings.Join(sortedKeys(labels[m.Name]), ", "))
				}
			}
			if needFilter && (!slices.Contains(filtered, "job") || !slices.Contains(filtered, "instance")) {
				bad(`%s: %s must be filtered by job=~"$job" and instance=~"$instance"`, where, sel.Metric)
			}
		}
		if !complete {
			return
		}
		for _, g := range q.Grouping {
			if !known[g] {
				bad("%s: no metric of the query has label %q to group by", where, g)
			}
		}
		for _, m := range legendLabel.FindAllStringSubmatch(legend, -1) {
			if !known[m[1]] {
				bad("%s: legend {{%s}}: no such label in the query", where, m[1])
			}
		}
	}

	ids := map[int]bool{}
	type box struct {
		title      string
		x, y, w, h int
	}
	var boxes []box
	var walk func(items []dashItem)
	walk = func(items []dashItem) {
		for _, p := range items {
			if ids[p.ID] {
				bad("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				bad("panel %q: gridPos %+v is outside the 24-column grid", p.Title, g)
			}
			for _, b := range boxes {
				if g.X < b.x+b.w && b.x < g.X+g.W && g.Y < b.y+b.h && b.y < g.Y+g.H {
					bad("panel %q overlaps panel %q", p.Title, b.title)
				}
			}
			boxes = append(boxes, box{p.Title, g.X, g.Y, g.W, g.H})
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				bad("panel %q: datasource must be the ${datasource} variable", p.Title)
			}
			if len(p.Targets) == 0 {
				bad("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				where := fmt.Sprintf("panel %q, query %s", p.Title, tg.RefID)
				if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
					bad("%s: datasource must be the ${datasource} variable", where)
				}
				checkExpr(where, tg.Expr, tg.LegendFormat, true)
			}
		}
	}
	walk(d.Panels)

	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		switch v.Type {
		case "datasource":
			var q string
			if json.Unmarshal(v.Query, &q) != nil || q != "prometheus" {
				bad("variable %s: a datasource variable of type prometheus", v.Name)
			}
		case "query":
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err != nil {
				bad("variable %s: query: %v", v.Name, err)
				continue
			}
			m := labelValues.FindStringSubmatch(q.Query)
			if m == nil {
				bad("variable %s: expected label_values(selector, label), got %q", v.Name, q.Query)
				continue
			}
			checkExpr("variable "+v.Name, m[1], "{{"+m[2]+"}}", false)
		}
	}
	for _, v := range []string{"datasource", "job", "instance"} {
		if !vars[v] {
			bad("the dashboard needs a %s variable", v)
		}
	}
	return problems, sortedKeys(seen)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// scrapeText is a /metrics answer of the shape the daemon gives, for the checker's own tests.
const scrapeText = `# TYPE camunda_waitroom_waiters gauge
camunda_waitroom_waiters 0
# TYPE camunda_waitroom_tasks_completed_total counter
camunda_waitroom_tasks_completed_total{topic="t"} 3
# TYPE camunda_waitroom_http_request_duration_seconds histogram
camunda_waitroom_http_request_duration_seconds_bucket{route="GET /healthz",code="200",le="0.1"} 1
camunda_waitroom_http_request_duration_seconds_bucket{route="GET /healthz",code="200",le="+Inf"} 1
camunda_waitroom_http_request_duration_seconds_sum{route="GET /healthz",code="200"} 0.01
camunda_waitroom_http_request_duration_seconds_count{route="GET /healthz",code="200"} 1
`

// TestCheckDashboardReportsMistakes: the check fails on each kind of mistake it exists for.
func TestCheckDashboardReportsMistakes(t *testing.T) {
	t.Parallel()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(scrapeText))
	require.NoError(t, err)
	const f = `job=~\"$job\", instance=~\"$instance\"`
	dash := func(expr, legend string) []byte {
		return []byte(`{"uid": "u", "title": "t", "schemaVersion": 39,
		  "templating": {"list": [
		    {"name": "datasource", "type": "datasource", "query": "prometheus"},
		    {"name": "job", "type": "query", "query": {"query": "label_values(camunda_waitroom_waiters, job)"}},
		    {"name": "instance", "type": "query", "query": {"query": "label_values(camunda_waitroom_waiters{job=~\"$job\"}, instance)"}}]},
		  "panels": [{"id": 1, "type": "timeseries", "title": "p", "datasource": {"uid": "${datasource}"},
		    "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
		    "targets": [{"refId": "A", "datasource": {"uid": "${datasource}"}, "expr": "` + expr + `", "legendFormat": "` + legend + `"}]}]}`)
	}
	good := `histogram_quantile(0.99, sum by (le, route, code) (rate(camunda_waitroom_http_request_duration_seconds_bucket{` + f + `, route=\"GET /healthz\"}[$__rate_interval]))) + sum by (topic) (rate(camunda_waitroom_tasks_completed_total{` + f + `}[5m]))`
	problems, queried := checkDashboard(dash(good, "{{route}} {{code}} {{topic}}"), fams)
	require.Empty(t, problems)
	require.Equal(t, []string{"camunda_waitroom_http_request_duration_seconds_bucket", "camunda_waitroom_tasks_completed_total", "camunda_waitroom_waiters"}, queried)

	for _, tc := range []struct{ expr, legend, want string }{
		{`rate(camunda_waitroom_tasks_complted_total{` + f + `}[5m])`, "", "camunda_waitroom_tasks_complted_total is not exported"},
		{`rate(camunda_waitroom_tasks_completed_total_bucket{` + f + `}[5m])`, "", "camunda_waitroom_tasks_completed_total_bucket is not exported"},
		{`camunda_waitroom_waiters_count{` + f + `}`, "", "camunda_waitroom_waiters_count is not exported"},
		{`sum by (topc) (camunda_waitroom_tasks_completed_total{` + f + `})`, "", `label "topc" to group by`},
		{`camunda_waitroom_tasks_completed_total{` + f + `, topik=\"t\"}`, "", `has no label "topik"`},
		{`camunda_waitroom_http_request_duration_seconds_count{` + f + `, route=\"GET /helthz\"}`, "", `never has route="GET /helthz"`},
		{`camunda_waitroom_waiters{job=~\"$job\"}`, "", `must be filtered by job=~"$job" and instance=~"$instance"`},
		{`camunda_waitroom_waiters{` + f + `}`, "{{topic}}", "legend {{topic}}: no such label"},
		{`vector(1)`, "", "reads no metric"},
		{`camunda_waitroom_waiters{` + f + `[5m]`, "", "expected , or }"},
	} {
		problems, _ := checkDashboard(dash(tc.expr, tc.legend), fams)
		require.Len(t, problems, 1, "%s: %v", tc.expr, problems)
		require.Contains(t, problems[0], tc.want, tc.expr)
	}
}

// TestE2EDashboardQueriesOnlyExportedMetrics runs the daemon, sends the traffic that gives
// the request families their samples (the others exist from the start, at zero: see
// metrics.InitSeries), scrapes /metrics and checks every query of the dashboard against it.
func TestE2EDashboardQueriesOnlyExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	require.NoError(t, err)
	d := startDaemon(t, daemonOpts{waitForEngine: true})

	resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start", `{"variables": {"email": "dash@example.com", "name": "Dash"}}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	resp, body = d.do(t, http.MethodPost, "/process/onboard-user/start", `{"variables": {"email": "no-at-sign", "name": "Dash"}}`)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "body: %s", body)
	resp, _ = d.do(t, http.MethodGet, "/process/dash-unknown/result", "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Counters move just after the answers go out: poll for the ones this traffic makes.
	var fams map[string]*dto.MetricFamily
	enginetest.Eventually(t, 15*time.Second, func() (bool, error) {
		fams = d.metrics(t)
		v, _ := sample(fams, "camunda_waitroom_tasks_bpmn_errors_total", map[string]string{"topic": "onboard-user/create-account"})
		_, started := sample(fams, "camunda_waitroom_http_requests_total", map[string]string{"route": startRoute, "code": "422"})
		return v >= 1 && started, nil
	}, "the BPMN error and the 422 counted")

	problems, queried := checkDashboard(raw, fams)
	require.Empty(t, problems, "the dashboard disagrees with the daemon's /metrics:\n%s", strings.Join(problems, "\n"))
	t.Logf("%d metrics queried, all exported: %s", len(queried), strings.Join(queried, " "))
	// The check ran over the whole dashboard, not over a part the JSON model hid from it.
	for _, want := range []string{
		"camunda_waitroom_http_requests_total", "camunda_waitroom_http_request_duration_seconds_bucket",
		"camunda_waitroom_waiters", "camunda_waitroom_wake_latency_seconds_bucket", "camunda_waitroom_wake_latency_seconds_count",
		"camunda_waitroom_tasks_fetched_total", "camunda_waitroom_tasks_completed_total", "camunda_waitroom_tasks_failed_total",
		"camunda_waitroom_tasks_bpmn_errors_total", "camunda_waitroom_tasks_lock_lost_total", "camunda_waitroom_lock_extensions_total",
		"camunda_waitroom_handler_duration_seconds_bucket", "camunda_waitroom_fetch_errors_total", "camunda_waitroom_report_errors_total",
		"camunda_waitroom_store_breaker_state", "camunda_waitroom_store_calls_total", "camunda_waitroom_store_errors_total",
		"camunda_waitroom_store_duration_seconds_bucket",
	} {
		require.Contains(t, queried, want)
	}
	state, ok := sample(fams, "camunda_waitroom_store_breaker_state", nil)
	require.True(t, ok)
	require.Equal(t, 0.0, state, "the breaker is closed while the store answers")
}
