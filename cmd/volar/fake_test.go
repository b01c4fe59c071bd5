package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "vol_test"

// fakeAPI answers the few REST routes the tests use, the way volantd
// does: bearer auth, JSON answers and problem+json errors. Files live in
// memory, keyed by sandbox id and absolute path.
type fakeAPI struct {
	t *testing.T

	mu sync.Mutex
	// files maps "id:/path" to content; dirs holds "id:/path" of
	// directories.
	files map[string][]byte
	dirs  map[string]bool
	// lastBody is the last JSON request body.
	lastBody map[string]any
	// exec answers POST .../exec.
	exec map[string]any
}

func newFakeAPI(t *testing.T) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{t: t, files: map[string][]byte{}, dirs: map[string]bool{"sb1:/": true, "sb1:/root": true}}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	return f, srv
}

func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

var testTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func testSandbox(id, name string) map[string]any {
	return map[string]any{
		"id": id, "name": name, "runtime": "default", "state": "running", "ip": "10.88.0.2",
		"spec":       map[string]any{"runtime": "default", "vcpus": 1, "memory_mib": 256, "network": "bridge"},
		"labels":     map[string]string{"team": "a"},
		"created_at": testTime, "updated_at": testTime, "last_active_at": testTime,
	}
}

func (f *fakeAPI) decode(r *http.Request) {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		f.t.Errorf("%s %s: undecodable body: %v", r.Method, r.URL.Path, err)
	}
	f.mu.Lock()
	f.lastBody = m
	f.mu.Unlock()
}

func (f *fakeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sandboxes", func(w http.ResponseWriter, r *http.Request) {
		f.decode(r)
		answer(w, http.StatusCreated, testSandbox("sb_new", ""))
	})
	mux.HandleFunc("GET /v1/sandboxes", func(w http.ResponseWriter, r *http.Request) {
		// Two pages, to check that ls follows the cursor.
		if r.URL.Query().Get("cursor") == "" {
			answer(w, 200, map[string]any{"items": []any{testSandbox("sb1", "one")}, "next": "c2"})
			return
		}
		answer(w, 200, map[string]any{"items": []any{testSandbox("sb2", "")}})
	})
	mux.HandleFunc("GET /v1/sandboxes/{id}", func(w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("id"); id != "sb1" {
			problem(w, http.StatusNotFound, fmt.Sprintf("sandbox %q not found; list sandboxes with GET /v1/sandboxes", id))
			return
		}
		answer(w, 200, testSandbox("sb1", "one"))
	})
	mux.HandleFunc("DELETE /v1/sandboxes/{id}", func(w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("id"); id != "sb1" {
			problem(w, http.StatusNotFound, fmt.Sprintf("sandbox %q not found", id))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/sandboxes/{id}/exec", func(w http.ResponseWriter, r *http.Request) {
		f.decode(r)
		f.mu.Lock()
		res := f.exec
		f.mu.Unlock()
		answer(w, 200, res)
	})
	mux.HandleFunc("GET /v1/sandboxes/{id}/files/stat", func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("id") + ":" + r.URL.Query().Get("path")
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.dirs[key] {
			answer(w, 200, map[string]any{"name": path.Base(key), "path": r.URL.Query().Get("path"), "is_dir": true, "mode": "0755"})
			return
		}
		b, ok := f.files[key]
		if !ok {
			problem(w, http.StatusNotFound, "no such file: "+r.URL.Query().Get("path"))
			return
		}
		answer(w, 200, map[string]any{"name": path.Base(key), "path": r.URL.Query().Get("path"), "size": len(b), "mode": "0640", "mod_time": testTime})
	})
	mux.HandleFunc("PUT /v1/sandboxes/{id}/files", func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Query().Get("path")
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.files[r.PathValue("id")+":"+p] = b
		f.mu.Unlock()
		answer(w, 200, map[string]any{"name": path.Base(p), "path": p, "size": len(b), "mode": r.URL.Query().Get("mode")})
	})
	mux.HandleFunc("GET /v1/sandboxes/{id}/files", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		b, ok := f.files[r.PathValue("id")+":"+r.URL.Query().Get("path")]
		f.mu.Unlock()
		if !ok {
			problem(w, http.StatusNotFound, "no such file: "+r.URL.Query().Get("path"))
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	})
	mux.HandleFunc("PUT /v1/sandboxes/{id}/files/tar", func(w http.ResponseWriter, r *http.Request) {
		id, dir := r.PathValue("id"), r.URL.Query().Get("path")
		tr := tar.NewReader(r.Body)
		files, dirs := 0, 0
		f.mu.Lock()
		defer f.mu.Unlock()
		f.dirs[id+":"+dir] = true
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				problem(w, http.StatusBadRequest, "bad tar: "+err.Error())
				return
			}
			key := id + ":" + path.Join(dir, hdr.Name)
			switch hdr.Typeflag {
			case tar.TypeDir:
				f.dirs[key] = true
				dirs++
			case tar.TypeReg:
				b, _ := io.ReadAll(tr)
				f.files[key] = b
				files++
			}
		}
		answer(w, 200, map[string]any{"files": files, "dirs": dirs})
	})
	mux.HandleFunc("GET /v1/sandboxes/{id}/files/tar", func(w http.ResponseWriter, r *http.Request) {
		prefix := r.PathValue("id") + ":" + strings.TrimSuffix(r.URL.Query().Get("path"), "/") + "/"
		f.mu.Lock()
		defer f.mu.Unlock()
		var names []string
		for k := range f.dirs {
			if strings.HasPrefix(k, prefix) {
				names = append(names, k)
			}
		}
		for k := range f.files {
			if strings.HasPrefix(k, prefix) {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		w.Header().Set("Content-Type", "application/x-tar")
		tw := tar.NewWriter(w)
		for _, k := range names {
			name := strings.TrimPrefix(k, prefix)
			if f.dirs[k] {
				tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: testTime})
				continue
			}
			b := f.files[k]
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: int64(len(b)), ModTime: testTime})
			tw.Write(b)
		}
		tw.Close()
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "retry: 1000\n\n: keep-alive\n\n")
		for seq := 1; seq <= 2; seq++ {
			fmt.Fprintf(w, "id: %d\nevent: sandbox.created\ndata: {\"seq\":%d,\"type\":\"sandbox.created\",\"sandbox_id\":\"sb%d\",\"types\":%q}\n\n",
				seq, seq, seq, strings.Join(r.URL.Query()["type"], ","))
		}
	})
	return requireToken(mux)
}

// requireToken answers 401 like volantd when the bearer token is wrong.
func requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			problem(w, http.StatusUnauthorized, "missing or invalid bearer token; the admin token is in STATE_DIR/token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// volar runs the CLI against srv with the test token.
func volar(t *testing.T, srv *httptest.Server, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"--addr", srv.URL, "--token", testToken}, args...)
	code = run(all, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// tarWriter builds test archives.
type tarWriter struct{ tw *tar.Writer }

func newTarWriter(w io.Writer) *tarWriter { return &tarWriter{tw: tar.NewWriter(w)} }

func (t *tarWriter) file(name, content string) {
	t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content))})
	io.WriteString(t.tw, content)
}

func (t *tarWriter) close() { t.tw.Close() }
