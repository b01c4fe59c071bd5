package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/rootfs"
)

// DefaultPath is the PATH a command gets unless its request sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// The exit codes of a command that could not be started, as in a shell.
const (
	ExitCannotExecute = 126
	ExitNotFound      = 127
)

// spec is a request resolved into what the kernel needs.
type spec struct {
	path string
	argv []string
	env  []string
	dir  string
	cred *syscall.Credential
}

// StartError is a command that cannot start; it becomes an exit code.
type StartError struct {
	// Code is ExitNotFound or ExitCannotExecute.
	Code int
	// Msg says what is wrong.
	Msg string
}

func (e *StartError) Error() string { return e.Msg }

// invalidError is a request that is wrong in itself (answered with 400).
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

// resolve turns a request into a spec: user, environment, working directory
// and the executable's path.
func resolve(req client.ExecRequest) (spec, error) {
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return spec{}, &invalidError{"argv is empty: give the command and its arguments, e.g. [\"ls\", \"-l\"]"}
	}
	for _, kv := range req.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return spec{}, &invalidError{fmt.Sprintf("env entry %q is not KEY=value", kv)}
		}
	}
	if req.TimeoutMS < 0 || req.MaxOutputBytes < 0 {
		return spec{}, &invalidError{"timeout_ms and max_output_bytes must not be negative"}
	}
	// In an image root, the image config's env, working directory and
	// user are the defaults; the request's own win.
	req = rootfs.Apply(req)
	u, cred, err := lookupUser(req.User)
	if err != nil {
		return spec{}, err
	}
	env := buildEnv(u, req.Env)
	dir := req.Cwd
	if dir == "" {
		dir = "/"
		if st, err := os.Stat(u.home); err == nil && st.IsDir() {
			dir = u.home
		}
	}
	// A working directory the caller named that is not there is their
	// mistake, said as such (not a bare exit 126).
	if st, err := os.Stat(dir); err != nil {
		if req.Cwd != "" {
			return spec{}, &invalidError{fmt.Sprintf("cwd %s: %v in the guest; give an existing directory, or create it first", dir, errors.Unwrap(err))}
		}
		return spec{}, &StartError{ExitCannotExecute, fmt.Sprintf("working directory %s: %v", dir, errors.Unwrap(err))}
	} else if !st.IsDir() {
		if req.Cwd != "" {
			return spec{}, &invalidError{fmt.Sprintf("cwd %s is not a directory in the guest; give a directory", dir)}
		}
		return spec{}, &StartError{ExitCannotExecute, fmt.Sprintf("working directory %s is not a directory", dir)}
	}
	path, err := lookPath(req.Argv[0], envValue(env, "PATH"), dir)
	if err != nil {
		return spec{}, err
	}
	return spec{path: path, argv: req.Argv, env: env, dir: dir, cred: cred}, nil
}

type account struct {
	name string
	home string
}

// lookupUser resolves a user name or numeric uid, optionally followed by
// ":group" (a group name or gid, as an OCI image config's User may be). An
// empty name means the agent's own user and no credential change.
func lookupUser(spec string) (account, *syscall.Credential, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	u, cred, err := lookupUserName(name)
	if err != nil || !hasGroup || group == "" {
		return u, cred, err
	}
	gid, err := lookupGroup(group)
	if err != nil {
		return account{}, nil, err
	}
	if cred == nil {
		uid := uint32(os.Getuid())
		cred = &syscall.Credential{Uid: uid, NoSetGroups: true}
	}
	cred.Gid = gid
	return u, cred, nil
}

// lookupGroup resolves a group name or numeric gid.
func lookupGroup(group string) (uint32, error) {
	if n, err := strconv.ParseUint(group, 10, 32); err == nil {
		return uint32(n), nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, &invalidError{fmt.Sprintf("group %q does not exist in the guest's /etc/group; give an existing name or a numeric gid", group)}
	}
	n, _ := strconv.ParseUint(g.Gid, 10, 32)
	return uint32(n), nil
}

func lookupUserName(name string) (account, *syscall.Credential, error) {
	if name == "" {
		uid := os.Getuid()
		if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			return account{u.Username, u.HomeDir}, nil, nil
		}
		if uid == 0 {
			return account{"root", "/root"}, nil, nil
		}
		return account{strconv.Itoa(uid), "/"}, nil, nil
	}
	var u *user.User
	var err error
	if n, perr := strconv.ParseUint(name, 10, 32); perr == nil {
		u, err = user.LookupId(name)
		if err != nil {
			// A uid without a passwd entry runs with gid = uid.
			return account{name, "/"}, &syscall.Credential{Uid: uint32(n), Gid: uint32(n), NoSetGroups: true}, nil
		}
	} else if u, err = user.Lookup(name); err != nil {
		return account{}, nil, &invalidError{fmt.Sprintf("user %q does not exist in the guest's /etc/passwd; give an existing name or a numeric uid", name)}
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	if int(uid) == os.Getuid() && int(gid) == os.Getgid() && os.Getuid() != 0 {
		cred = nil // nothing to change, and no privilege to set groups
	}
	return account{u.Username, u.HomeDir}, cred, nil
}

// buildEnv returns the defaults overlaid with extra; later entries win.
func buildEnv(u account, extra []string) []string {
	home := u.home
	if home == "" {
		home = "/"
	}
	base := []string{"PATH=" + DefaultPath, "HOME=" + home, "TERM=xterm", "USER=" + u.name, "LOGNAME=" + u.name}
	all := append(base, extra...)
	seen := map[string]int{}
	var out []string
	for _, kv := range all {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[k]; ok {
			out[i] = kv
			continue
		}
		seen[k] = len(out)
		out = append(out, kv)
	}
	return out
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// lookPath finds file in path the way a shell does, relative names being
// resolved against dir. It returns a *StartError with exit code 127 when
// nothing is found and 126 when the file is not executable.
func lookPath(file, path, dir string) (string, error) {
	check := func(p string) error {
		full := p
		if !filepath.IsAbs(full) {
			full = filepath.Join(dir, full)
		}
		st, err := os.Stat(full)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return &StartError{ExitNotFound, fmt.Sprintf("%s: command not found", file)}
			}
			return &StartError{ExitCannotExecute, fmt.Sprintf("%s: %v", file, errors.Unwrap(err))}
		}
		if st.IsDir() {
			return &StartError{ExitCannotExecute, fmt.Sprintf("%s: is a directory", file)}
		}
		if st.Mode().Perm()&0o111 == 0 {
			return &StartError{ExitCannotExecute, fmt.Sprintf("%s: permission denied (not executable)", file)}
		}
		return nil
	}
	if strings.Contains(file, "/") {
		if err := check(file); err != nil {
			return "", err
		}
		return file, nil
	}
	var firstErr error
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, file)
		err := check(p)
		if err == nil {
			return p, nil
		}
		if se, ok := err.(*StartError); ok && se.Code == ExitCannotExecute && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", firstErr
	}
	return "", &StartError{ExitNotFound, fmt.Sprintf("%s: command not found in PATH %s", file, path)}
}
