package workload

import (
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/volant-sh/volant/kestrel/client"
)

// maxNameLen bounds a workload name.
const maxNameLen = 64

// checkName reports a name that is not 1 to 64 of a-z, 0-9, '_' and '-'.
func checkName(name string) error {
	ok := len(name) >= 1 && len(name) <= maxNameLen
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("workload name %q is not valid: use 1 to %d of a-z, 0-9, '_' and '-'", name, maxNameLen)
	}
	return nil
}

// normalize checks spec and returns it with its defaults filled in; its
// error says what to fix.
func normalize(spec client.WorkloadSpec) (client.WorkloadSpec, error) {
	if len(spec.Command) == 0 || spec.Command[0] == "" {
		return spec, fmt.Errorf(`command is empty: give the program and its arguments, e.g. ["/usr/local/bin/server", "--port", "8080"]`)
	}
	for k, v := range spec.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return spec, fmt.Errorf("env key %q is not valid: keys are non-empty and hold no '=' or NUL, values no NUL", k)
		}
	}
	if spec.Cwd != "" && !filepath.IsAbs(spec.Cwd) {
		return spec, fmt.Errorf("cwd %q is relative: give an absolute directory, e.g. \"/srv/app\", or leave it out", spec.Cwd)
	}
	if spec.Port < 0 || spec.Port > 65535 {
		return spec, fmt.Errorf("port %d is out of range: give the TCP port the workload listens on, 1 to 65535, or leave it out", spec.Port)
	}
	if spec.Health != "" {
		if _, err := url.ParseRequestURI(spec.Health); err != nil || !strings.HasPrefix(spec.Health, "/") {
			return spec, fmt.Errorf("health %q is not an HTTP path: it starts with '/', e.g. \"/healthz\"", spec.Health)
		}
		if spec.Port == 0 {
			return spec, fmt.Errorf("health %q needs a port to be checked on: set port to the port the workload listens on", spec.Health)
		}
	}
	switch spec.Restart {
	case "":
		spec.Restart = client.RestartAlways
	case client.RestartAlways, client.RestartOnFailure, client.RestartNever:
	default:
		return spec, fmt.Errorf("restart %q is not a policy: use %q (the default), %q or %q",
			spec.Restart, client.RestartAlways, client.RestartOnFailure, client.RestartNever)
	}
	return spec, nil
}

// sameSpec reports whether two normalized specs run the same thing.
func sameSpec(a, b client.WorkloadSpec) bool {
	return slices.Equal(a.Command, b.Command) && maps.Equal(a.Env, b.Env) && a.Cwd == b.Cwd &&
		a.Port == b.Port && a.Health == b.Health && a.Restart == b.Restart
}

// execRequest is spec as the exec request proc resolves it from: the same
// environment, working directory and PATH lookup as an exec.
func execRequest(spec client.WorkloadSpec) client.ExecRequest {
	env := make([]string, 0, len(spec.Env))
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		env = append(env, k+"="+spec.Env[k])
	}
	return client.ExecRequest{Argv: spec.Command, Env: env, Cwd: spec.Cwd}
}
