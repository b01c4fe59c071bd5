package kubelet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/volant-sh/volant/internal/tail"

	vkerrdefs "github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	utilexec "k8s.io/utils/exec"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// followEvery is how often a followed workload log is read again.
const followEvery = time.Second

// execTimeout bounds a kubectl exec session (the engine's maximum).
const execTimeout = 24 * time.Hour

// running answers the sandbox id of a Pod whose sandbox runs, and whether
// its container has a workload.
func (p *provider) running(namespace, name string) (string, bool, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.pods[podKey(namespace, name)]
	if !ok {
		return "", false, "", vkerrdefs.NotFoundf("pod %s/%s is not known to this node", namespace, name)
	}
	if st.obs.Sandbox == nil {
		return "", false, "", vkerrdefs.InvalidInputf("pod %s/%s has no sandbox yet: %s", namespace, name, st.pod.Status.Message)
	}
	cwd := ""
	if len(st.pod.Spec.Containers) > 0 {
		cwd = st.pod.Spec.Containers[0].WorkingDir
	}
	return st.obs.Sandbox.ID, st.obs.HasWorkload, cwd, nil
}

// GetContainerLogs answers the container's log: its workload's output, or
// the sandbox's serial console when the container runs no command.
func (p *provider) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	id, hasWL, _, err := p.running(namespace, podName)
	if err != nil {
		return nil, err
	}
	if opts.Previous {
		if !hasWL {
			return nil, vkerrdefs.NotFound("the container runs no command, so it has no previous run")
		}
		data, err := p.vol.WorkloadPreviousLogs(ctx, id, workloadName)
		if errors.Is(err, errdefs.ErrNotFound) {
			return nil, vkerrdefs.NotFoundf("previous terminated container %q in pod %q not found: it has not restarted", containerName, podName)
		}
		if err != nil {
			return nil, err
		}
		data = tail.Lines(data, opts.Tail)
		if opts.LimitBytes > 0 && len(data) > opts.LimitBytes {
			data = data[:opts.LimitBytes]
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	if !hasWL {
		return p.vol.Logs(ctx, id, opts.Tail, opts.Follow)
	}
	data, err := p.vol.WorkloadLogs(ctx, id, workloadName, 0)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		w := io.Writer(pw)
		if opts.LimitBytes > 0 {
			w = &limitWriter{w: pw, left: opts.LimitBytes}
		}
		err := p.followWorkload(ctx, id, data, opts, w)
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// followWorkload writes the workload's output (its last opts.Tail lines
// first) and, when following, what it writes later until ctx ends or the
// sandbox goes.
func (p *provider) followWorkload(ctx context.Context, id string, data []byte, opts api.ContainerLogOpts, w io.Writer) error {
	if _, err := w.Write(tail.Lines(data, opts.Tail)); err != nil || !opts.Follow {
		return err
	}
	return p.followFrom(ctx, id, data, w)
}

// followFrom writes what the workload writes after data (its log as read
// last) until ctx ends or the sandbox goes.
func (p *provider) followFrom(ctx context.Context, id string, data []byte, w io.Writer) error {
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cur, err := p.vol.WorkloadLogs(ctx, id, workloadName, 0)
		if errors.Is(err, errdefs.ErrNotFound) || errors.Is(err, errdefs.ErrConflict) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		if _, err := w.Write(newSince(data, cur)); err != nil {
			return err
		}
		data = cur
	}
}

// anchorLen is how much of the log seen last is looked for in the log
// read now once the agent's ring has dropped its start.
const anchorLen = 512

// newSince returns what cur, a later read of a ring-kept log, has after
// prev.
func newSince(prev, cur []byte) []byte {
	if bytes.HasPrefix(cur, prev) {
		return cur[len(prev):]
	}
	if len(prev) == 0 {
		return cur
	}
	// The ring drops its start as it fills: look for the end of prev,
	// short enough to survive the drop.
	anchor := prev[len(prev)-min(anchorLen, max(1, len(prev)/4)):]
	if i := bytes.LastIndex(cur, anchor); i >= 0 {
		return cur[i+len(anchor):]
	}
	return cur
}

type limitWriter struct {
	w    io.Writer
	left int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, io.EOF
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.w.Write(p)
	l.left -= n
	if err == nil && l.left <= 0 {
		err = io.EOF
	}
	return n, err
}

// RunInContainer runs cmd in the Pod's sandbox (kubectl exec), on a
// terminal when asked, copying stdin, output and window sizes. A command
// that exits non-zero answers its exit code.
func (p *provider) RunInContainer(ctx context.Context, namespace, podName, containerName string, cmd []string, attach api.AttachIO) error {
	id, _, cwd, err := p.running(namespace, podName)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tty := attach.TTY()
	sess, err := p.vol.ExecStream(ctx, id, apiclient.StreamRequest{
		ExecRequest: sandbox.ExecRequest{Cmd: cmd, Cwd: cwd, Timeout: execTimeout},
		PTY:         tty,
	})
	if err != nil {
		return err
	}
	defer sess.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if in := attach.Stdin(); in != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, rerr := in.Read(buf)
				if n > 0 {
					var werr error
					if tty {
						werr = sess.Keys(ctx, buf[:n])
					} else {
						werr = sess.Stdin(ctx, buf[:n])
					}
					if werr != nil {
						return
					}
				}
				if rerr != nil {
					if !tty {
						_ = sess.CloseStdin(ctx)
					}
					return
				}
			}
		}()
	}
	if rs := attach.Resize(); tty && rs != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case sz, ok := <-rs:
					if !ok {
						return
					}
					_ = sess.Resize(ctx, sz.Height, sz.Width)
				}
			}
		}()
	}
	stdout, stderr := attach.Stdout(), attach.Stderr()
	if stderr == nil {
		stderr = stdout
	}
	for {
		f, err := sess.Recv(ctx)
		if err != nil {
			return err
		}
		switch f.Type {
		case "stdout", "output":
			if stdout != nil {
				_, _ = stdout.Write(f.Data)
			}
		case "stderr":
			if stderr != nil {
				_, _ = stderr.Write(f.Data)
			}
		case "exit":
			if f.Error != "" {
				return errors.New(f.Error)
			}
			if f.ExitCode != 0 {
				return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", f.ExitCode), Code: f.ExitCode}
			}
			return nil
		}
	}
}

// AttachToContainer streams the container's output from now on (kubectl
// attach without -i). A Volant workload is supervised in the background
// with its output going to a log, so it has no stdin or terminal to
// attach to: asking for them (-i, -t) is refused, saying what to use.
func (p *provider) AttachToContainer(ctx context.Context, namespace, podName, containerName string, attach api.AttachIO) error {
	id, hasWL, _, err := p.running(namespace, podName)
	if err != nil {
		return err
	}
	if !hasWL {
		return vkerrdefs.InvalidInput("the container runs no command, so there is no process to attach to; use kubectl exec -it to run one, kubectl logs for the console")
	}
	if attach.Stdin() != nil || attach.TTY() {
		return vkerrdefs.InvalidInput("the container's command is not interactive: Volant runs it in the background with no stdin or terminal; " +
			"kubectl attach without -i/-t streams its output, kubectl exec -it runs an interactive process")
	}
	out := attach.Stdout()
	if out == nil {
		out = attach.Stderr()
	}
	if out == nil {
		return vkerrdefs.InvalidInput("attach asked for no output stream")
	}
	data, err := p.vol.WorkloadLogs(ctx, id, workloadName, 0)
	if err != nil {
		return err
	}
	return p.followFrom(ctx, id, data, out)
}

// PortForward carries one kubectl port-forward connection to port in the
// Pod's sandbox through the engine's TCP tunnel.
func (p *provider) PortForward(ctx context.Context, namespace, podName string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	id, _, _, err := p.running(namespace, podName)
	if err != nil {
		return err
	}
	conn, err := p.vol.DialTCP(ctx, id, int(port))
	if err != nil {
		return err
	}
	defer conn.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(conn, stream)
		_ = conn.Close()
		close(done)
	}()
	_, _ = io.Copy(stream, conn)
	_ = stream.Close()
	<-done
	return nil
}
