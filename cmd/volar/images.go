package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/sandbox"
)

const imageUsage = `usage: volar image COMMAND [ARGS]

Commands:
  pull REF [--key FILE]      pull an image from a registry (python:3.12-slim, name@sha256:...)
  import FILE|DIR [--name N] import a docker save / OCI tarball (uploaded) or an OCI layout
                             directory (read by volantd on its host, from image_import_dirs)
  ls                         list images
  get REF|DIGEST             describe an image: digest, layers, config
  rm REF|DIGEST...           delete images no sandbox or template uses

Create a sandbox of an image with 'volar sandbox create --image REF'.
Bring your own image built with Docker: docker save app:dev -o app.tar,
then volar image import app.tar.
`

func cmdImage(e *env, args []string) error {
	return subcommand(e, "image", args, map[string]func(*env, []string) error{
		"pull":    imagePull,
		"import":  imageImport,
		"load":    imageImport,
		"ls":      imageList,
		"list":    imageList,
		"get":     imageGet,
		"inspect": imageGet,
		"rm":      imageRemove,
		"remove":  imageRemove,
		"delete":  imageRemove,
	}, imageUsage)
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func imageList(e *env, args []string) error {
	return listCommand(e, args, "volar image ls", (*api).ListImages,
		func(i *sandbox.Image) string { return i.Digest }, printImages)
}

func printImages(w io.Writer, list []*sandbox.Image) {
	t := newTable(w, "NAME", "DIGEST", "SIZE", "ROOTFS", "LAYERS", "CREATED")
	for _, i := range list {
		name := "-"
		if len(i.Names) > 0 {
			name = i.Names[0]
			if len(i.Names) > 1 {
				name += fmt.Sprintf(" (+%d)", len(i.Names)-1)
			}
		}
		t.row(name, shortDigest(i.Digest), mib(i.Size), mib(i.RootFSSize), fmt.Sprint(len(i.Layers)), ago(i.CreatedAt))
	}
	t.flush()
}

func printImage(w io.Writer, i *sandbox.Image) {
	t := newKV(w)
	t.row("digest:", i.Digest)
	if i.IndexDigest != "" {
		t.row("index:", i.IndexDigest)
	}
	t.row("names:", orDash(strings.Join(i.Names, ", ")))
	t.row("source:", orDash(i.Source))
	t.row("size:", mib(i.Size)+" compressed, "+mib(i.RootFSSize)+" ext4")
	if i.SignedBy != "" {
		t.row("signed by:", i.SignedBy)
	}
	c := i.Config
	if len(c.Entrypoint) > 0 {
		t.row("entrypoint:", strings.Join(c.Entrypoint, " "))
	}
	if len(c.Cmd) > 0 {
		t.row("cmd:", strings.Join(c.Cmd, " "))
	}
	if c.WorkingDir != "" {
		t.row("workdir:", c.WorkingDir)
	}
	if c.User != "" {
		t.row("user:", c.User)
	}
	for n, v := range c.Env {
		key := ""
		if n == 0 {
			key = "env:"
		}
		t.row(key, v)
	}
	for n, l := range i.Layers {
		key := ""
		if n == 0 {
			key = "layers:"
		}
		t.row(key, fmt.Sprintf("%s  %s", shortDigest(l.Digest), mib(l.Size)))
	}
	t.row("created:", i.CreatedAt.Local().Format(time.RFC3339)+" ("+ago(i.CreatedAt)+")")
	t.flush()
}

func imageGet(e *env, args []string) error {
	pos, api, err := e.newCommand("volar image get REF|DIGEST").open(e, args, 1, 1)
	if err != nil {
		return err
	}
	ctx, raw := e.rawContext()
	i, err := api.GetImage(ctx, pos[0])
	if err != nil {
		return err
	}
	e.show(*raw, []string{i.Digest}, func() { printImage(e.stdout, i) })
	return nil
}

func imageRemove(e *env, args []string) error {
	pos, api, err := e.newCommand("volar image rm REF|DIGEST...").open(e, args, 1, -1)
	if err != nil {
		return err
	}
	return forEach(e, pos, func(ref string) error {
		return api.DeleteImage(e.ctx, ref)
	})
}

func imagePull(e *env, args []string) error {
	c := e.newCommand("volar image pull REF [--key FILE]")
	keyFile := c.fs.String("key", "", "require a cosign signature by the PEM public key in this `file`")
	pos, api, err := c.open(e, args, 1, 1)
	if err != nil {
		return err
	}
	req := sandbox.ImagePullRequest{Ref: pos[0]}
	if *keyFile != "" {
		k, err := os.ReadFile(*keyFile)
		if err != nil {
			return err
		}
		req.PublicKey = string(k)
	}
	stop := e.followProgress(api, pos[0])
	ctx, raw := e.rawContext()
	i, err := api.PullImage(ctx, req)
	stop(err == nil)
	if err != nil {
		return err
	}
	e.show(*raw, []string{i.Digest}, func() { printImage(e.stdout, i) })
	return nil
}

func imageImport(e *env, args []string) error {
	c := e.newCommand("volar image import FILE|DIR [--name NAME]")
	nameFlag := c.fs.String("name", "", "record the image under this `name` (default: the names the tarball carries)")
	pos, api, err := c.open(e, args, 1, 1)
	if err != nil {
		return err
	}
	p := pos[0]
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	ctx, raw := e.rawContext()
	var i *sandbox.Image
	if st.IsDir() {
		// A layout directory is read by volantd on its own host.
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		stop := e.followProgress(api, abs)
		i, err = api.PullImage(ctx, sandbox.ImagePullRequest{Path: abs, Name: *nameFlag})
		stop(err == nil)
		if err != nil {
			return err
		}
	} else {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		stop := e.followProgress(api, "upload")
		i, err = api.UploadImage(ctx, *nameFlag, f)
		stop(err == nil)
		if err != nil {
			return err
		}
	}
	e.show(*raw, []string{i.Digest}, func() { printImage(e.stdout, i) })
	return nil
}

// imageProgress is the data of an image.progress event.
type imageProgress struct {
	Phase string `json:"phase"`
	Ref   string `json:"ref"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
	// Line is one line of a plugin image's build (phase build).
	Line string `json:"line"`
}

// followProgress prints the image.progress events of ref to stderr until
// stop is called: a bar redrawn in place on a terminal, plain lines
// otherwise. Without the event stream it prints nothing. stop(true),
// after the request succeeded, first waits (up to 10 s) for the done
// report, which the engine publishes before it answers.
func (e *env) followProgress(api *api, ref string) (stop func(ok bool)) {
	if e.g.quiet || e.g.json {
		return func(bool) {}
	}
	ctx, cancel := context.WithCancel(e.ctx)
	stream, err := api.Events(ctx, apiclient.EventsOptions{Types: []string{"image.progress"}})
	if err != nil {
		cancel()
		return func(bool) {}
	}
	tty := isTerminal(e.stderr)
	done := make(chan struct{})
	sawDone := make(chan struct{})
	go func() {
		defer close(done)
		defer stream.Close()
		drew := false
		for {
			ev, err := stream.Next(ctx)
			if err != nil {
				break
			}
			var p imageProgress
			if json.Unmarshal(ev.Data, &p) != nil || p.Ref != ref {
				continue
			}
			line := progressLine(p)
			if p.Phase == "done" {
				close(sawDone)
				if !tty {
					fmt.Fprintln(e.stderr, line)
				}
				break
			}
			if tty {
				fmt.Fprintf(e.stderr, "\r\033[K%s", line)
				drew = true
			} else {
				fmt.Fprintln(e.stderr, line)
			}
		}
		if drew {
			fmt.Fprint(e.stderr, "\r\033[K")
		}
	}()
	return func(ok bool) {
		if ok {
			select {
			case <-sawDone:
			case <-done:
			case <-time.After(10 * time.Second):
			}
		}
		cancel()
		<-done
	}
}

// progressLine renders one progress report.
func progressLine(p imageProgress) string {
	switch p.Phase {
	case "fetch":
		if p.Total > 0 {
			const width = 30
			n := int(float64(width) * float64(p.Done) / float64(p.Total))
			n = min(max(n, 0), width)
			return fmt.Sprintf("%s: fetching [%s%s] %s / %s", p.Ref, strings.Repeat("#", n), strings.Repeat(".", width-n), mib(p.Done), mib(p.Total))
		}
		return fmt.Sprintf("%s: fetching %s", p.Ref, mib(p.Done))
	case "convert":
		return fmt.Sprintf("%s: converting, %s of files written", p.Ref, mib(p.Done))
	case "mkfs":
		return fmt.Sprintf("%s: making the ext4 (%s of files)", p.Ref, mib(p.Done))
	case "build", "failed":
		return fmt.Sprintf("%s: %s", p.Ref, clip(p.Line, 160))
	case "done":
		if p.Line != "" {
			return fmt.Sprintf("%s: done (%s)", p.Ref, p.Line)
		}
		return fmt.Sprintf("%s: done", p.Ref)
	}
	return fmt.Sprintf("%s: %s", p.Ref, p.Phase)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
