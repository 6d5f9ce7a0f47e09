package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// localEngine is a Camunda 7.24 dev engine started by this command (java -jar on a copy of
// dev/camunda/target/camunda-dev.jar, so a concurrent `mvn package` cannot pull the jar from
// under it).
type localEngine struct {
	cmd *exec.Cmd
	dir string
	URL string
	log string
}

// startEngine builds the jar if missing (dev/camunda/engine.sh build), copies it to a temp
// directory and starts it on a free loopback port with javaOpts; it returns once
// GET /engine-rest/engine answers 200.
func startEngine(ctx context.Context, repoRoot, javaOpts string, timeout time.Duration) (*localEngine, error) {
	jar := filepath.Join(repoRoot, "dev/camunda/target/camunda-dev.jar")
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
	dir, err := os.MkdirTemp("", "bench-worker-engine-")
	if err != nil {
		return nil, err
	}
	copyJar := filepath.Join(dir, "camunda-dev.jar")
	if err := copyFile(jar, copyJar); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("copy engine jar: %w", err)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := append(strings.Fields(javaOpts), "-jar", copyJar, fmt.Sprintf("--server.port=%d", port))
	logPath := filepath.Join(dir, "engine.log")
	lf, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command("java", args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start java: %w", err)
	}
	lf.Close()
	e := &localEngine{cmd: cmd, dir: dir, URL: fmt.Sprintf("http://127.0.0.1:%d/engine-rest", port), log: logPath}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	logf("starting engine: java %s (log %s)", strings.Join(args, " "), logPath)
	deadline := time.Now().Add(timeout)
	for {
		if err := ping(ctx, e.URL); err == nil {
			return e, nil
		}
		select {
		case <-exited:
			tail, _ := os.ReadFile(logPath)
			os.RemoveAll(dir)
			return nil, fmt.Errorf("engine exited before answering; log:\n%s", lastLines(string(tail), 30))
		case <-ctx.Done():
			e.stop()
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.stop()
			return nil, fmt.Errorf("engine did not answer within %s", timeout)
		}
	}
}

// stop sends SIGTERM to the engine we started (its own process group), SIGKILL after 20 s.
func (e *localEngine) stop() {
	if e == nil || e.cmd.Process == nil {
		return
	}
	pid := e.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for syscall.Kill(pid, 0) == nil {
			time.Sleep(100 * time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	os.RemoveAll(e.dir)
}

func ping(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/engine", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// rest is the driver's own client for deploying and starting instances; contenders have
// their own clients.
type rest struct {
	base string
	hc   *http.Client
}

func newRest(base string) *rest {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &rest{base: strings.TrimRight(base, "/"), hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

func (r *rest) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
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
func (r *rest) deploy(ctx context.Context, name string, procs map[string]string) error {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("deployment-name", name)
	_ = mw.WriteField("enable-duplicate-filtering", "false")
	for key, topic := range procs {
		fw, err := mw.CreateFormFile(key, key+".bpmn")
		if err != nil {
			return err
		}
		if _, err := io.WriteString(fw, bpmn(key, topic)); err != nil {
			return err
		}
	}
	if err := mw.Close(); err != nil {
		return err
	}
	return r.do(ctx, http.MethodPost, "/deployment/create", mw.FormDataContentType(), &buf, nil)
}

// start starts one instance of key and returns its id.
func (r *rest) start(ctx context.Context, key string) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := r.do(ctx, http.MethodPost, "/process-definition/key/"+key+"/start", "application/json", strings.NewReader("{}"), &out)
	if err == nil && out.ID == "" {
		err = errors.New("start: no instance id in the answer")
	}
	return out.ID, err
}

// count is GET /external-task/count?topicName=topic (plus extra query).
func (r *rest) count(ctx context.Context, topic, extra string) (int, error) {
	var out struct {
		Count int `json:"count"`
	}
	err := r.do(ctx, http.MethodGet, "/external-task/count?topicName="+topic+extra, "", nil, &out)
	return out.Count, err
}
