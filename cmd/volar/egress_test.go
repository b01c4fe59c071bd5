package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEgressAndSecretCommands(t *testing.T) {
	var got []string
	mux := http.NewServeMux()
	record := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.Path+" "+strings.TrimSpace(string(b)))
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/egress"):
			_, _ = io.WriteString(w, `{"sandbox":"sb1","effective":{"default":"deny","allow":["pypi.org"]},"enforced":true,"stats":{"conn_denied":2}}`)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/v1/secrets" && r.Method == http.MethodGet:
			_, _ = io.WriteString(w, `{"items":[{"name":"openai","created_at":"2026-01-01T00:00:00Z"}]}`)
		case r.URL.Path == "/v1/sandboxes":
			_, _ = io.WriteString(w, `{"id":"sb_new","state":"running"}`)
		default:
			_, _ = io.WriteString(w, `{"name":"openai"}`)
		}
	}
	mux.HandleFunc("/", record)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	code, out, stderr := volar(t, srv, "", "sandbox", "egress", "sb1", "--default", "deny", "--allow", "pypi.org, *.pythonhosted.org")
	if code != 0 || !strings.Contains(out, "pypi.org") || !strings.Contains(out, "2 denied") {
		t.Fatalf("sandbox egress: %d %q %q", code, out, stderr)
	}
	if code, _, _ := volar(t, srv, "", "sandbox", "egress", "sb1", "--reset"); code != 0 {
		t.Fatal("--reset failed")
	}
	if code, _, stderr := volar(t, srv, "", "sandbox", "egress", "sb1", "--reset", "--allow", "x"); code == 0 || !strings.Contains(stderr, "excludes") {
		t.Fatalf("--reset with --allow: %d %q", code, stderr)
	}
	if code, _, stderr := volar(t, srv, "sk-123\n", "secret", "put", "openai"); code != 0 {
		t.Fatalf("secret put: %q", stderr)
	}
	code, out, _ = volar(t, srv, "", "secret", "ls")
	if code != 0 || !strings.Contains(out, "openai") {
		t.Fatalf("secret ls: %q", out)
	}
	if code, _, _ := volar(t, srv, "", "secret", "rm", "openai"); code != 0 {
		t.Fatal("secret rm failed")
	}
	if code, _, stderr := volar(t, srv, "", "sandbox", "create", "-q", "--network", "bridge", "--egress-default", "deny",
		"--allow", "api.openai.com", "--secret", "OPENAI_API_KEY=openai@api.openai.com"); code != 0 {
		t.Fatalf("create: %q", stderr)
	}
	want := []string{
		`PUT /v1/sandboxes/sb1/egress {"default":"deny","allow":["pypi.org","*.pythonhosted.org"]}`,
		`DELETE /v1/sandboxes/sb1/egress `,
		`POST /v1/secrets {"name":"openai","value":"sk-123"}`,
		`GET /v1/secrets `,
		`DELETE /v1/secrets/openai `,
	}
	for i, w := range want {
		if i >= len(got) || got[i] != w {
			t.Fatalf("request %d = %q, want %q (all: %q)", i, at(got, i), w, got)
		}
	}
	var body map[string]any
	_ = json.Unmarshal([]byte(strings.SplitN(got[len(got)-1], " ", 3)[2]), &body)
	sec, _ := json.Marshal(body["secrets"])
	eg, _ := json.Marshal(body["egress"])
	if string(sec) != `{"OPENAI_API_KEY":{"hosts":["api.openai.com"],"name":"openai"}}` || string(eg) != `{"allow":["api.openai.com"],"default":"deny"}` {
		t.Fatalf("create body: %s", got[len(got)-1])
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}
