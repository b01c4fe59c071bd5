package rootfs

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/reply"
)

// Defaults are the image config's defaults for the processes the agent
// starts: set once by the host (PUT /v1/rootfs) after a cold boot, and
// kept in a template's memory for its restores.
type Defaults struct {
	Env        []string
	WorkingDir string
	User       string
}

// SetDefaults records the image's defaults.
func SetDefaults(d Defaults) {
	state.mu.Lock()
	state.defaults = d
	state.mu.Unlock()
}

// Apply returns req with the image's defaults where req leaves a field
// empty: its env goes under the request's (later entries win), its
// working directory and user are used when the request names none.
func Apply(req client.ExecRequest) client.ExecRequest {
	state.mu.Lock()
	d := state.defaults
	state.mu.Unlock()
	if len(d.Env) > 0 {
		req.Env = append(append([]string(nil), d.Env...), req.Env...)
	}
	if req.Cwd == "" {
		req.Cwd = d.WorkingDir
	}
	if req.User == "" {
		req.User = d.User
	}
	return req
}

// Register adds PUT /v1/rootfs (the image's defaults) and POST /v1/sync
// to mux.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("PUT /v1/rootfs", handleConfig)
	mux.HandleFunc("POST /v1/sync", func(w http.ResponseWriter, r *http.Request) {
		unix.Sync()
		reply.JSON(w, http.StatusOK, struct{}{})
	})
}

func handleConfig(w http.ResponseWriter, r *http.Request) {
	var cfg client.ImageConfig
	if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil {
		reply.Invalid(w, "the body is not an image config: "+err.Error())
		return
	}
	if err := checkConfig(cfg); err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	if err := Err(); err != nil {
		reply.Error(w, http.StatusServiceUnavailable, reply.CodeUnavailable, "the guest could not enter the image root: "+err.Error())
		return
	}
	if !Active() {
		reply.Error(w, http.StatusConflict, reply.CodeConflict, "this guest was not booted in an image root (no volant.root= on its kernel command line)")
		return
	}
	SetDefaults(Defaults{Env: cfg.Env, WorkingDir: cfg.WorkingDir, User: cfg.User})
	reply.JSON(w, http.StatusOK, struct{}{})
}

// checkConfig says what is wrong with an image config.
func checkConfig(cfg client.ImageConfig) error {
	for _, kv := range cfg.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.ContainsRune(kv, 0) {
			return fmt.Errorf("image env entry %q is not KEY=value", kv)
		}
	}
	if cfg.WorkingDir != "" && !path.IsAbs(cfg.WorkingDir) {
		return fmt.Errorf("image working dir %q is not an absolute path", cfg.WorkingDir)
	}
	if strings.ContainsRune(cfg.User+cfg.WorkingDir, 0) {
		return fmt.Errorf("image user or working dir contains a NUL byte")
	}
	return nil
}
