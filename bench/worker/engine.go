package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
)

// benchEngine is the engine the driver deploys to and starts instances on, through
// internal/enginetest: either one this command started (from a private copy of the jar, so a
// concurrent `mvn package` cannot pull the jar from under it) or the running one named by
// -engine / WAITROOM_TEST_CAMUNDA_URL.
type benchEngine struct {
	*enginetest.Engine
	dir string // the jar copy's directory ("" for an external engine)
}

// driverClient is the driver's HTTP client (deploy, starts, counts): up to -starters
// concurrent starts keep their connections. Contenders have their own clients.
func driverClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// attachEngine uses the running engine at base; it fails when GET {base}/engine does not
// answer 200 within a few seconds.
func attachEngine(ctx context.Context, base string) (*benchEngine, error) {
	restore := setEnv(enginetest.EnvURL, base)
	defer restore()
	eng, err := enginetest.Start(ctx, enginetest.Options{StartTimeout: 5 * time.Second, HTTPClient: driverClient()})
	if err != nil {
		return nil, err
	}
	return &benchEngine{Engine: eng}, nil
}

// startEngine builds the jar if missing (dev/camunda/engine.sh build), copies it (or
// $WAITROOM_TEST_CAMUNDA_JAR) to a temp directory and starts it with enginetest on a free
// loopback port with javaOpts; it returns once GET /engine-rest/engine answers 200.
func startEngine(ctx context.Context, repoRoot, javaOpts string, timeout time.Duration) (*benchEngine, error) {
	jar := os.Getenv(enginetest.EnvJar)
	if jar == "" {
		jar = filepath.Join(repoRoot, filepath.FromSlash(enginetest.JarPath))
		if _, err := os.Stat(jar); err != nil {
			logf("engine jar missing: running dev/camunda/engine.sh build")
			b := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "dev/camunda/engine.sh"), "build")
			b.Stderr = os.Stderr
			out, err := b.Output()
			if err != nil {
				return nil, fmt.Errorf("engine.sh build: %w", err)
			}
			jar = strings.TrimSpace(string(out))
		}
	}
	dir, err := os.MkdirTemp("", "bench-worker-engine-")
	if err != nil {
		return nil, err
	}
	copyJar := filepath.Join(dir, "camunda-dev.jar")
	if err := copyFile(jar, copyJar); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("copy engine jar: %w", err)
	}
	jvm := strings.Fields(javaOpts)
	if jvm == nil {
		jvm = []string{} // no flags at all, not enginetest's defaults
	}
	restoreURL := setEnv(enginetest.EnvURL, "") // -engine "" means: start our own
	restoreJar := setEnv(enginetest.EnvJar, copyJar)
	logf("starting engine: java %s -jar %s", strings.Join(jvm, " "), copyJar)
	eng, err := enginetest.Start(ctx, enginetest.Options{JVMArgs: jvm, StartTimeout: timeout, HTTPClient: driverClient()})
	restoreJar()
	restoreURL()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf("engine log %s", eng.LogPath())
	return &benchEngine{Engine: eng, dir: dir}, nil
}

// stop ends the engine we started (SIGTERM, SIGKILL after 20 s) and removes its jar copy
// and log; an external engine is left alone.
func (e *benchEngine) stop() {
	if e == nil || e.External() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = e.Stop(ctx)
	if p := e.LogPath(); p != "" {
		os.Remove(p)
	}
	os.RemoveAll(e.dir)
}

// setEnv sets (or, for "", unsets) an environment variable and returns a func restoring it,
// so the contenders' processes see the environment this command was started with.
func setEnv(key, value string) (restore func()) {
	old, had := os.LookupEnv(key)
	if value == "" {
		os.Unsetenv(key)
	} else {
		os.Setenv(key, value)
	}
	return func() {
		if had {
			os.Setenv(key, old)
		} else {
			os.Unsetenv(key)
		}
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// bpmn is a process with one external task on topic: start → external task → end.
func bpmn(key, topic string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="http://camunda-waitroom/bench">
  <process id="` + key + `" isExecutable="true" camunda:historyTimeToLive="1">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <serviceTask id="work" camunda:type="external" camunda:topic="` + topic + `"/>
    <sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>`
}

// deploy deploys one process per (key, topic) pair in one deployment.
func (e *benchEngine) deploy(ctx context.Context, name string, procs map[string]string) error {
	files := make(map[string][]byte, len(procs))
	for key, topic := range procs {
		files[key+".bpmn"] = []byte(bpmn(key, topic))
	}
	_, err := e.Deploy(ctx, name, files)
	return err
}

// start starts one instance of key and returns its id.
func (e *benchEngine) start(ctx context.Context, key string) (string, error) {
	id, err := e.StartProcess(ctx, key, "", nil)
	if err == nil && id == "" {
		err = errors.New("start: no instance id in the answer")
	}
	return id, err
}

// count is the number of external tasks on topic (GET /external-task/count?topicName=topic).
func (e *benchEngine) count(ctx context.Context, topic string) (int, error) {
	return e.CountExternalTasks(ctx, url.Values{"topicName": {topic}})
}
