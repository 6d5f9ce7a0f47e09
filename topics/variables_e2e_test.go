package topics_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/topics/topicstest"
)

// historicVariable is a row of GET /history/variable-instance with the value kept raw.
type historicVariable struct {
	ID                 string          `json:"id"`
	Name               string          `json:"name"`
	Type               string          `json:"type"`
	Value              json.RawMessage `json:"value"`
	ValueInfo          map[string]any  `json:"valueInfo"`
	ActivityInstanceID string          `json:"activityInstanceId"`
	ProcessInstanceID  string          `json:"processInstanceId"`
}

func historicVariables(t *testing.T, instanceID string) map[string]historicVariable {
	t.Helper()
	var rows []historicVariable
	q := url.Values{"processInstanceId": {instanceID}, "deserializeValues": {"false"}}
	require.NoError(t, engine.Do(context.Background(), http.MethodGet, "/history/variable-instance?"+q.Encode(), nil, &rows))
	out := map[string]historicVariable{}
	for _, r := range rows {
		out[r.Name] = r
	}
	return out
}

func historicFile(t *testing.T, id string) []byte {
	t.Helper()
	resp, err := http.Get(engine.URL + "/history/variable-instance/" + url.PathEscape(id) + "/data")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	return b
}

// seen is what the handler read, for the test goroutine to assert.
type seen struct {
	text           string
	flag           bool
	short, integer int64
	long53, long   int64
	double         float64
	date           time.Time
	json, object   string
	objectType     string
	xml            string
	bytes          []byte
	file           topics.File
	bigFileErr     error
	null           bool
	missingErr     error
	errs           []error
}

// Every type goes in at the start, is read by a handler, and is written back by it (as
// process and as local variables); the engine's history then holds each with its type and
// exact value.
func TestEveryVariableTypeRoundTrips(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	key, topic := deploy(t)
	ist := time.FixedZone("+0530", 5*3600+30*60)
	when := time.Date(2026, 3, 4, 5, 6, 7, 890e6, ist)
	const big53 = int64(1)<<53 + 1
	xmlDoc := `<order id="7"><line qty="2">tea &amp; cake</line></order>`
	file, err := topics.FileVar("note.txt", "text/plain", []byte("hello file"))
	require.NoError(t, err)
	bigFile, err := topics.FileVar("big.bin", "application/octet-stream", make([]byte, 4096))
	require.NoError(t, err)
	jsonVar, err := topics.RawJSONVar(json.RawMessage(`{"n":9223372036854775807,"s":"x"}`))
	require.NoError(t, err)
	objVar, err := topics.ObjectJSONVar("com.example.Order", map[string]any{"id": 7})
	require.NoError(t, err)
	xmlVar, err := topics.XMLVar(xmlDoc)
	require.NoError(t, err)
	id := engine.StartProcess(t, key, topics.Variables{
		"text": topics.StringVar("héllo"), "flag": topics.BoolVar(true), "short": topics.ShortVar(-32768),
		"integer": topics.IntegerVar(math.MaxInt32), "long53": topics.LongVar(big53), "long": topics.LongVar(math.MaxInt64),
		"double": topics.DoubleVar(0.1), "date": topics.DateVar(when), "json": jsonVar, "object": objVar,
		"xml": xmlVar, "bytes": topics.BytesVar([]byte{0, 1, 254, 255}), "file": file, "bigFile": bigFile,
		"null": topics.NullVar(),
	})

	got := make(chan seen, 1)
	var taskActivityInstance string
	startWorker(t, camundaConfig(key+"-w"), []topics.Topic{topicConfig(topic)}, map[string]topics.Handler{
		topic: topics.HandlerFunc(func(ctx context.Context, task *topics.Task) (topics.Complete, error) {
			var s seen
			keep := func(err error) {
				if err != nil {
					s.errs = append(s.errs, err)
				}
			}
			var err error
			s.text, err = task.Text("text")
			keep(err)
			s.flag, err = task.Bool("flag")
			keep(err)
			s.short, err = task.Long("short")
			keep(err)
			s.integer, err = task.Long("integer")
			keep(err)
			s.long53, err = task.Long("long53")
			keep(err)
			s.long, err = task.Long("long")
			keep(err)
			s.double, err = task.Double("double")
			keep(err)
			s.date, err = task.Date("date")
			keep(err)
			doc, err := task.JSON("json")
			keep(err)
			s.json = string(doc)
			doc, err = task.JSON("object")
			keep(err)
			s.object, s.objectType = string(doc), task.Variables["object"].ObjectTypeName()
			s.xml, err = task.XML("xml")
			keep(err)
			s.bytes, err = task.Bytes("bytes")
			keep(err)
			s.file, err = task.File(ctx, "file", 1024)
			keep(err)
			_, s.bigFileErr = task.File(ctx, "bigFile", 1024)
			s.null = task.Variables["null"].IsNull()
			_, s.missingErr = task.Long("nope")
			taskActivityInstance = task.ActivityInstanceID
			got <- s

			outFile, err := topics.FileVar("out.csv", "text/csv", []byte("a,b\n1,2\n"))
			if err != nil {
				return topics.Complete{}, err
			}
			outXML, err := topics.XMLVar(s.xml)
			if err != nil {
				return topics.Complete{}, err
			}
			outJSON, err := topics.RawJSONVar(json.RawMessage(s.json))
			if err != nil {
				return topics.Complete{}, err
			}
			outObj, err := topics.RawObjectJSONVar(s.objectType, json.RawMessage(s.object))
			if err != nil {
				return topics.Complete{}, err
			}
			return topics.Complete{
				Variables: topics.Variables{
					"outText": topics.StringVar(s.text), "outFlag": topics.BoolVar(!s.flag),
					"outShort": topics.ShortVar(int16(s.short)), "outInteger": topics.IntegerVar(int32(s.integer)),
					"outLong53": topics.LongVar(s.long53), "outLong": topics.LongVar(s.long), "outDouble": topics.DoubleVar(s.double),
					"outDate": topics.DateVar(s.date.In(ist)), "outJson": outJSON, "outObject": outObj, "outXml": outXML,
					"outBytes": topics.BytesVar(s.bytes), "outFile": outFile, "outNull": topics.NullVar(),
				},
				LocalVariables: topics.Variables{"localLong": topics.LongVar(math.MaxInt64 - 1), "localText": topics.StringVar("only here")},
			}, nil
		}),
	})

	var s seen
	select {
	case s = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the handler did not run within 30s")
	}
	// What the handler read.
	require.Empty(t, s.errs)
	assert.Equal(t, "héllo", s.text)
	assert.True(t, s.flag)
	assert.Equal(t, int64(-32768), s.short)
	assert.Equal(t, int64(math.MaxInt32), s.integer)
	assert.Equal(t, big53, s.long53, "a Long above 2^53 keeps its last digit")
	assert.Equal(t, int64(math.MaxInt64), s.long)
	assert.Equal(t, 0.1, s.double)
	assert.True(t, when.Equal(s.date), "the Date's instant: sent %s, read %s", when, s.date)
	assert.JSONEq(t, `{"n":9223372036854775807,"s":"x"}`, s.json)
	assert.Contains(t, s.json, "9223372036854775807", "the Json document's big number is text, not float64")
	assert.JSONEq(t, `{"id":7}`, s.object)
	assert.Equal(t, "com.example.Order", s.objectType)
	assert.Equal(t, xmlDoc, s.xml)
	assert.Equal(t, []byte{0, 1, 254, 255}, s.bytes)
	assert.Equal(t, "hello file", string(s.file.Content))
	assert.Equal(t, "note.txt", s.file.Filename)
	assert.Equal(t, "text/plain", s.file.MimeType)
	require.ErrorIs(t, s.bigFileErr, topics.ErrFileTooLarge, "a 4 KiB file with a 1 KiB cap")
	assert.True(t, s.null)
	assert.ErrorIs(t, s.missingErr, topics.ErrNoVariable)

	// What the engine stored from the handler's completion.
	waitEnded(t, []string{id}, 30*time.Second)
	h := historicVariables(t, id)
	want := map[string][2]string{
		"outText": {"String", `"héllo"`}, "outFlag": {"Boolean", `false`}, "outShort": {"Short", `-32768`},
		"outInteger": {"Integer", `2147483647`}, "outLong53": {"Long", `9007199254740993`},
		"outLong": {"Long", `9223372036854775807`}, "outDouble": {"Double", `0.1`},
		"outNull":   {"Null", `null`},
		"localLong": {"Long", `9223372036854775806`}, "localText": {"String", `"only here"`},
	}
	for name, tv := range want {
		v, ok := h[name]
		if !assert.True(t, ok, "%s not in history", name) {
			continue
		}
		assert.Equal(t, tv[0], v.Type, name)
		assert.Equal(t, tv[1], string(v.Value), name)
	}
	date := topics.Variable{Type: h["outDate"].Type, Value: h["outDate"].Value}
	d, err := date.Date()
	require.NoError(t, err)
	assert.True(t, when.Equal(d), "Date: wrote %s, the engine holds %s", when, d)
	var text string
	require.NoError(t, json.Unmarshal(h["outJson"].Value, &text))
	assert.Equal(t, "Json", h["outJson"].Type)
	assert.JSONEq(t, `{"n":9223372036854775807,"s":"x"}`, text)
	assert.Contains(t, text, "9223372036854775807")
	assert.Equal(t, "Object", h["outObject"].Type)
	require.NoError(t, json.Unmarshal(h["outObject"].Value, &text))
	assert.JSONEq(t, `{"id":7}`, text)
	assert.Equal(t, "com.example.Order", h["outObject"].ValueInfo["objectTypeName"])
	assert.Equal(t, "application/json", h["outObject"].ValueInfo["serializationDataFormat"])
	assert.Equal(t, "Xml", h["outXml"].Type)
	require.NoError(t, json.Unmarshal(h["outXml"].Value, &text))
	assert.Equal(t, xmlDoc, text)
	// History answers Bytes and File values as null with deserializeValues=false: their
	// content is at the data endpoint.
	assert.Equal(t, "Bytes", h["outBytes"].Type)
	assert.Equal(t, []byte{0, 1, 254, 255}, historicFile(t, h["outBytes"].ID))
	assert.Equal(t, "File", h["outFile"].Type)
	assert.Equal(t, "out.csv", h["outFile"].ValueInfo["filename"])
	assert.Equal(t, "text/csv", h["outFile"].ValueInfo["mimeType"])
	assert.Equal(t, "a,b\n1,2\n", string(historicFile(t, h["outFile"].ID)))

	// Local variables lived on the task's execution, not in the process instance's scope.
	for _, name := range []string{"localLong", "localText"} {
		assert.Equal(t, taskActivityInstance, h[name].ActivityInstanceID, "%s is local to the task", name)
	}
	assert.Equal(t, id, h["outLong"].ActivityInstanceID, "process variables are in the instance's scope")
	assert.False(t, strings.HasPrefix(taskActivityInstance, id), "the task's activity instance is its own")
}

// localTaskProcess is OneTaskProcess with input mappings: the task's execution gets local
// variables of its own.
func localTaskProcess(key, topic string) []byte {
	return []byte(strings.NewReplacer("{key}", key, "{topic}", topic).Replace(`<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d-{key}" targetNamespace="http://camunda-waitroom/test">
  <bpmn:process id="{key}" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="work" camunda:type="external" camunda:topic="{topic}">
      <bpmn:extensionElements>
        <camunda:inputOutput>
          <camunda:inputParameter name="localText">mapped in</camunda:inputParameter>
          <camunda:inputParameter name="localFile">${execution.getVariableTyped("file")}</camunda:inputParameter>
        </camunda:inputOutput>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work" />
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>`))
}

// A task's fetched variables include its execution's local ones (input mappings), and with
// the topic setting localVariables only those; a File local to the task downloads from the
// task's execution.
func TestLocalVariablesAreFetched(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	for _, localOnly := range []bool{false, true} {
		key := unique(t)
		topic := key + "/work"
		engine.Deploy(t, key+".bpmn", localTaskProcess(key, topic))
		file, err := topics.FileVar("in.txt", "text/plain", []byte("process scope"))
		require.NoError(t, err)
		id := engine.StartProcess(t, key, topics.Variables{"text": topics.StringVar("process"), "file": file})

		type read struct {
			names     []string
			localText string
			local     topics.File
			err       error
		}
		got := make(chan read, 1)
		sub := topicConfig(topic)
		sub.LocalVariables = localOnly
		startWorker(t, camundaConfig(key+"-w"), []topics.Topic{sub}, map[string]topics.Handler{
			topic: topics.HandlerFunc(func(ctx context.Context, task *topics.Task) (topics.Complete, error) {
				var r read
				for n := range task.Variables {
					r.names = append(r.names, n)
				}
				r.localText, r.err = task.Text("localText")
				if r.err == nil {
					r.local, r.err = task.File(ctx, "localFile", 1024)
				}
				got <- r
				return topics.Complete{}, nil
			}),
		})
		var r read
		select {
		case r = <-got:
		case <-time.After(30 * time.Second):
			t.Fatal("the handler did not run within 30s")
		}
		require.NoError(t, r.err)
		assert.Equal(t, "mapped in", r.localText)
		assert.Equal(t, "process scope", string(r.local.Content))
		assert.Equal(t, "in.txt", r.local.Filename)
		if localOnly {
			assert.ElementsMatch(t, []string{"localText", "localFile"}, r.names, "localVariables: the task's own only")
		} else {
			assert.ElementsMatch(t, []string{"localText", "localFile", "text", "file"}, r.names, "local and process variables")
		}
		waitEnded(t, []string{id}, 30*time.Second)
	}
}
