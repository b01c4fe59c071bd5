package cloudhypervisor

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/hypervisor"
)

// TestFakeRejectsWhatTheDocumentForbids proves the fake's validation
// bites: requests that break the API document are answered 400 and logged
// as invalid, so a driver that sent them would fail the contract tests.
func TestFakeRejectsWhatTheDocumentForbids(t *testing.T) {
	opts, logPath := fakeEnv(t)
	opts.Logger = discardLogger()
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	dir := filepath.Join(shortDir(t), "v")
	vm, err := d.launch(ctx, hypervisor.Config{ID: "bad", Dir: dir}, record{ID: "bad"})
	if err != nil {
		t.Fatalf("starting the fake: %v", err)
	}
	defer vm.Kill()
	tests := []struct {
		name, method, endpoint string
		body                   any
	}{
		{"create without payload", http.MethodPut, "vm.create", map[string]any{"cpus": map[string]any{"boot_vcpus": 1, "max_vcpus": 1}}},
		{"create with 0 vcpus", http.MethodPut, "vm.create", map[string]any{"payload": map[string]any{"kernel": "/k"}, "cpus": map[string]any{"boot_vcpus": 0, "max_vcpus": 1}}},
		{"memory size as a string", http.MethodPut, "vm.create", map[string]any{"payload": map[string]any{}, "memory": map[string]any{"size": "256M"}}},
		{"vsock cid below 3", http.MethodPut, "vm.create", map[string]any{"payload": map[string]any{}, "vsock": map[string]any{"cid": 2, "socket": "/s"}}},
		{"serial mode not in the enum", http.MethodPut, "vm.create", map[string]any{"payload": map[string]any{}, "serial": map[string]any{"mode": "Unix"}}},
		{"restore without source_url", http.MethodPut, "vm.restore", map[string]any{"memory_restore_mode": "OnDemand"}},
		{"restore mode not in the enum", http.MethodPut, "vm.restore", map[string]any{"source_url": "file:///s", "memory_restore_mode": "Lazy"}},
		{"snapshot without a body", http.MethodPut, "vm.snapshot", nil},
		{"info with PUT", http.MethodPut, "vm.info", nil},
		{"no such operation", http.MethodPut, "vm.teleport", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := vm.api.call(ctx, tt.method, tt.endpoint, tt.body, nil)
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
				t.Errorf("got %v, want a 400 from the validator", err)
			}
		})
	}
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	invalid := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e loggedRequest
		json.Unmarshal(sc.Bytes(), &e)
		if e.Invalid != "" {
			invalid++
			t.Logf("rejected %s %s: %s", e.Method, e.Path, strings.SplitN(e.Invalid, "\n", 2)[0])
		}
	}
	if invalid != len(tests) {
		t.Errorf("the fake logged %d invalid requests, want %d", invalid, len(tests))
	}
}
