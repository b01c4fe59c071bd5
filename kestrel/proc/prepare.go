package proc

import (
	"os"
	"syscall"

	"github.com/volant-sh/volant/kestrel/client"
)

// Spec is a request resolved for starting: the executable's path, argv,
// environment, working directory and credentials. Other agent packages
// (the PTY server) use it to start commands the same way exec does.
type Spec struct {
	Path string
	Argv []string
	sp   spec
}

// Prepare resolves req like POST /v1/exec does. Its error is a *StartError
// when the command cannot be started, or an error whose message says how
// to fix the request.
func Prepare(req client.ExecRequest) (*Spec, error) {
	sp, err := resolve(req)
	if err != nil {
		return nil, err
	}
	return &Spec{Path: sp.path, Argv: sp.argv, sp: sp}, nil
}

// ProcAttr returns the attributes to start the command with files as its
// stdin, stdout and stderr; Sys holds its credentials and nothing else.
func (s *Spec) ProcAttr(files []*os.File) *os.ProcAttr {
	return &os.ProcAttr{Dir: s.sp.dir, Env: s.sp.env, Files: files, Sys: &syscall.SysProcAttr{Credential: s.sp.cred}}
}
