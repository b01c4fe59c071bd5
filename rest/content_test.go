package rest_test

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestJSONBodiesAndMediaTypes: a JSON body is taken with a JSON media type
// or none at all; forms (what browsers send cross-site and curl -d sends)
// and other types get 415 saying what to send.
func TestJSONBodiesAndMediaTypes(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		ctype  string
		status int
	}{
		{"", http.StatusCreated},
		{"application/json", http.StatusCreated},
		{"application/json; charset=utf-8", http.StatusCreated},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"text/plain", http.StatusUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.ctype, func(t *testing.T) {
			req, err := http.NewRequest("POST", e.srv.URL+"/v1/sandboxes", strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			req.Header.Set("Authorization", "Bearer "+e.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if tt.status != http.StatusCreated {
				wantProblem(t, resp, tt.status, "send Content-Type: application/json")
				return
			}
			want(t, resp, tt.status, nil)
		})
	}
}

// TestMuxErrorsAreProblems: a method a route does not take and a path with
// no route are problem documents too, not the mux's plain text.
func TestMuxErrorsAreProblems(t *testing.T) {
	e := newEnv(t)
	resp := e.do("PATCH", "/v1/sandboxes", nil)
	wantProblem(t, resp, http.StatusMethodNotAllowed, "PATCH is not allowed", "GET", "POST")
	if resp.Header.Get("Allow") == "" {
		t.Error("405 without an Allow header")
	}
	wantProblem(t, e.do("GET", "/v1/no-such-route", nil), http.StatusNotFound, "/openapi.json")
}

// TestDocsCurlExamples runs the sandbox curl lines of docs/api.md against
// a test server, as a reader would paste them.
func TestDocsCurlExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	f, err := os.Open("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := newEnv(t)
	ran := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "curl ") || !strings.HasSuffix(line, "http://127.0.0.1:7777/v1/sandboxes") {
			continue
		}
		cmd := strings.NewReplacer(`$(cat /var/lib/volant/token)`, e.token, `$TOKEN`, e.token,
			"http://127.0.0.1:7777", e.srv.URL, `"runtime": "httpd"`, `"runtime": "default"`).Replace(line)
		out, err := exec.Command("sh", "-c", cmd+" --silent --show-error --fail-with-body").CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", line, err, out)
		}
		ran++
	}
	if ran < 2 {
		t.Errorf("ran %d curl examples of docs/api.md, want the list and the create", ran)
	}
}

// TestExecInAMissingCwd is told which directory is missing, not a bare
// exit 126.
func TestExecInAMissingCwd(t *testing.T) {
	e := newEnv(t)
	var sb struct {
		ID string `json:"id"`
	}
	want(t, e.do("POST", "/v1/sandboxes", map[string]any{}), http.StatusCreated, &sb)
	resp := e.do("POST", "/v1/sandboxes/"+sb.ID+"/exec", map[string]any{"cmd": []string{"true"}, "cwd": "/no/such/dir"})
	wantProblem(t, resp, http.StatusBadRequest, "cwd /no/such/dir", "give an existing directory")
}
