package camunda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// File is a File variable's content, downloaded.
type File struct {
	Content  []byte
	Filename string
	MimeType string
	Encoding string
}

// ErrFileTooLarge: a File variable's content is larger than the caller's cap.
var ErrFileTooLarge = errors.New("file too large")

// FileRef says where a File variable lives: the external task's execution and its process
// instance.
type FileRef struct {
	ExecutionID       string
	ProcessInstanceID string
	Name              string
}

// DownloadFile fetches a File variable's content, refusing more than maxBytes (ErrFileTooLarge;
// maxBytes <= 0 means no cap). hc carries the login; base is the REST root.
//
// The engine has no external-task variable endpoint (GET /external-task/{id}/variables/...
// answers 404 on Camunda 7.24 and Operaton), so the content comes from the variable's scope:
// GET /execution/{executionId}/localVariables/{name}/data (a variable local to the task's
// execution) and, when that is 404, GET /process-instance/{id}/variables/{name}/data (the
// process instance's scope). A File held by an intermediate scope (an embedded subprocess)
// is found by neither: map it into the task with an input mapping.
func DownloadFile(ctx context.Context, hc *http.Client, base string, ref FileRef, maxBytes int64) (File, error) {
	base = strings.TrimRight(base, "/")
	var paths []string
	if ref.ExecutionID != "" {
		paths = append(paths, "/execution/"+url.PathEscape(ref.ExecutionID)+"/localVariables/"+url.PathEscape(ref.Name)+"/data")
	}
	if ref.ProcessInstanceID != "" {
		paths = append(paths, "/process-instance/"+url.PathEscape(ref.ProcessInstanceID)+"/variables/"+url.PathEscape(ref.Name)+"/data")
	}
	if len(paths) == 0 {
		return File{}, fmt.Errorf("file variable %q: no execution or process instance id to download it from", ref.Name)
	}
	var lastErr error
	for _, p := range paths {
		f, status, err := download(ctx, hc, base+p, maxBytes)
		if err == nil {
			return f, nil
		}
		lastErr = fmt.Errorf("file variable %q: %w", ref.Name, err)
		if status != http.StatusNotFound {
			return File{}, lastErr
		}
	}
	return File{}, fmt.Errorf("%w (%w)", ErrNoVariable, lastErr)
}

func download(ctx context.Context, hc *http.Client, u string, maxBytes int64) (File, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return File{}, 0, err
	}
	req.Header.Set("Accept", "*/*")
	resp, err := hc.Do(req)
	if err != nil {
		return File{}, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var rex struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &rex) == nil && rex.Message != "" {
			msg = rex.Type + ": " + rex.Message
		}
		return File{}, resp.StatusCode, fmt.Errorf("GET %s answered %d: %s", req.URL.Path, resp.StatusCode, msg)
	}
	if maxBytes > 0 && resp.ContentLength > maxBytes {
		return File{}, resp.StatusCode, fmt.Errorf("%w: %d bytes, the cap is %d", ErrFileTooLarge, resp.ContentLength, maxBytes)
	}
	r := io.Reader(resp.Body)
	if maxBytes > 0 {
		r = io.LimitReader(resp.Body, maxBytes+1)
	}
	content, err := io.ReadAll(r)
	if err != nil {
		return File{}, resp.StatusCode, fmt.Errorf("read %s: %w", req.URL.Path, err)
	}
	if maxBytes > 0 && int64(len(content)) > maxBytes {
		return File{}, resp.StatusCode, fmt.Errorf("%w: more than the cap of %d bytes", ErrFileTooLarge, maxBytes)
	}
	f := File{Content: content}
	if mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil {
		f.MimeType, f.Encoding = mt, params["charset"]
	}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		f.Filename = params["filename"]
	}
	return f, resp.StatusCode, nil
}
