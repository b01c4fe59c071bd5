package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/internal/tarfs"
	agentclient "github.com/volant-sh/volant/kestrel/client"
)

// idRE is the API's pattern of sandbox ids and names.
var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// remotePath splits "ID:/path". ok is false for anything else (a local
// path).
func remotePath(arg string) (id, p string, ok bool) {
	id, p, found := strings.Cut(arg, ":")
	if !found || !idRE.MatchString(id) || !strings.HasPrefix(p, "/") {
		return "", "", false
	}
	return id, p, true
}

// needRemote parses an ID:/path argument of c.
func (c *command) needRemote(arg string) (string, string, error) {
	id, p, ok := remotePath(arg)
	if !ok {
		return "", "", c.fail("%q: write the sandbox path as ID:/absolute/path", arg)
	}
	return id, p, nil
}

// stat describes a guest path; a missing path is (nil, nil).
func (a *api) stat(e *env, id, p string) (*agentclient.FileInfo, error) {
	fi, err := a.Stat(e.ctx, id, p)
	if errors.Is(err, errdefs.ErrNotFound) {
		// Either the sandbox or the path; a missing sandbox fails the
		// next call with its own message.
		return nil, nil
	}
	return fi, err
}

const cpUsage = `volar cp [flags] SRC DST

  volar cp LOCAL ID:/path     upload a file, or a directory's contents (tar)
  volar cp ID:/path LOCAL     download a file, or a directory's contents
  volar cp - ID:/path         upload stdin to a file
  volar cp ID:/path -         write a file to stdout

A file copied onto an existing directory (or a path ending in /) lands in it
under its own name. A directory is copied as a tree: its contents land in
DST, which is created if missing. Uploaded files are owned by root in the
sandbox.`

func cmdCp(e *env, args []string) error {
	c := e.newCommand(cpUsage)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.nargs(pos, 2, 2); err != nil {
		return err
	}
	srcID, srcPath, srcRemote := remotePath(pos[0])
	dstID, dstPath, dstRemote := remotePath(pos[1])
	switch {
	case srcRemote && dstRemote:
		return c.fail("both paths are in sandboxes: copy through a local file")
	case !srcRemote && !dstRemote:
		return c.fail("neither path is in a sandbox: write one as ID:/absolute/path")
	}
	api, err := e.api()
	if err != nil {
		return err
	}
	if dstRemote {
		return upload(e, api, pos[0], dstID, dstPath)
	}
	return download(e, api, srcID, srcPath, pos[1])
}

func upload(e *env, api *api, local, id, dst string) error {
	if local == "-" {
		return uploadFile(e, api, e.stdin, -1, 0, id, dst, "stdin")
	}
	fi, err := os.Stat(local)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return uploadDir(e, api, local, id, dst)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file or directory", local)
	}
	if strings.HasSuffix(dst, "/") {
		dst += filepath.Base(local)
	} else if rfi, err := api.stat(e, id, dst); err != nil {
		return err
	} else if rfi != nil && rfi.IsDir {
		dst = path.Join(dst, filepath.Base(local))
	}
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	return uploadFile(e, api, f, fi.Size(), fi.Mode().Perm(), id, dst, local)
}

// uploadFile writes r (of size bytes, or unknown when -1) to dst.
func uploadFile(e *env, api *api, r io.Reader, size int64, mode fs.FileMode, id, dst, what string) error {
	ctx, raw := e.rawContext()
	fi, err := api.WriteFile(ctx, id, dst, r, size, agentclient.WriteOptions{Mode: mode, MkdirAll: true})
	if err != nil {
		return err
	}
	e.show(*raw, nil, func() {
		fmt.Fprintf(e.stdout, "%s -> %s:%s (%s)\n", what, id, fi.Path, humanBytes(fi.Size))
	})
	return nil
}

func uploadDir(e *env, api *api, local, id, dst string) error {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeTar(pw, local))
	}()
	defer pr.Close()
	ctx, raw := e.rawContext()
	res, err := api.UploadTar(ctx, id, dst, pr)
	if err != nil {
		return err
	}
	e.show(*raw, nil, func() {
		fmt.Fprintf(e.stdout, "%s -> %s:%s (%d files, %d directories, %s)\n", local, id, dst, res.Files, res.Dirs, humanBytes(res.Bytes))
	})
	return nil
}

// writeTar archives the tree at root, names relative to it, owned by
// root. Devices, fifos and sockets are left out.
func writeTar(w io.Writer, root string) error {
	return tarfs.Write(w, root, filepath.Base(root), tarfs.WriteOptions{})
}

func download(e *env, api *api, id, src, local string) error {
	fi, err := api.stat(e, id, src)
	if err != nil {
		return err
	}
	if fi == nil {
		// Let the API say what is missing: the sandbox or the path.
		_, err := api.Stat(e.ctx, id, src)
		if err == nil {
			err = fmt.Errorf("%s:%s: no such file", id, src)
		}
		return err
	}
	if fi.IsDir {
		if local == "-" {
			return streamTar(e, api, id, src, e.stdout)
		}
		return downloadDir(e, api, id, src, local)
	}
	if local == "-" {
		return streamFile(e, api, id, src, e.stdout)
	}
	if st, err := os.Stat(local); (err == nil && st.IsDir()) || strings.HasSuffix(local, string(filepath.Separator)) {
		local = filepath.Join(local, path.Base(src))
	}
	mode := fs.FileMode(0o644)
	if fi.Mode != "" {
		var m uint32
		if _, err := fmt.Sscanf(fi.Mode, "%o", &m); err == nil {
			mode = fs.FileMode(m & 0o777)
		}
	}
	// Write beside the target and rename, so that a broken transfer
	// leaves no partial file.
	tmp, err := os.CreateTemp(filepath.Dir(local), "."+filepath.Base(local)+".volar-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := streamFile(e, api, id, src, tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), local); err != nil {
		return err
	}
	if !fi.ModTime.IsZero() {
		_ = os.Chtimes(local, fi.ModTime, fi.ModTime)
	}
	if !e.g.quiet && !e.g.json {
		fmt.Fprintf(e.stdout, "%s:%s -> %s (%s)\n", id, src, local, humanBytes(fi.Size))
	}
	return nil
}

// streamFile copies the file src of the sandbox to w.
func streamFile(e *env, api *api, id, src string, w io.Writer) error {
	rc, err := api.ReadFile(e.ctx, id, src, 0, 0)
	if err != nil {
		return err
	}
	return copyOut(rc, w, id, src)
}

// streamTar copies a tar archive of the tree src of the sandbox to w.
func streamTar(e *env, api *api, id, src string, w io.Writer) error {
	rc, err := api.DownloadTar(e.ctx, id, src)
	if err != nil {
		return err
	}
	return copyOut(rc, w, id, src)
}

func copyOut(rc io.ReadCloser, w io.Writer, id, src string) error {
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("reading %s:%s: transfer broken: %w", id, src, err)
	}
	return nil
}

func downloadDir(e *env, api *api, id, src, local string) error {
	rc, err := api.DownloadTar(e.ctx, id, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(local, 0o755); err != nil {
		return err
	}
	files, dirs, err := extractTar(rc, local)
	if err != nil {
		return fmt.Errorf("extracting %s:%s into %s: %w", id, src, local, err)
	}
	if !e.g.quiet && !e.g.json {
		fmt.Fprintf(e.stdout, "%s:%s -> %s (%d files, %d directories)\n", id, src, local, files, dirs)
	}
	return nil
}

// extractTar unpacks r into dir. Every entry goes through an os.Root, so
// no name or symlink in the archive can write outside dir.
func extractTar(r io.Reader, dir string) (files, dirs int, err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, 0, err
	}
	defer root.Close()
	res, err := tarfs.Extract(root, dir, r, tarfs.ExtractOptions{})
	return res.Files, res.Dirs, err
}

func cmdCat(e *env, args []string) error {
	c := e.newCommand("volar cat ID:/path")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.nargs(pos, 1, 1); err != nil {
		return err
	}
	id, p, err := c.needRemote(pos[0])
	if err != nil {
		return err
	}
	api, err := e.api()
	if err != nil {
		return err
	}
	return streamFile(e, api, id, p, e.stdout)
}

func cmdLs(e *env, args []string) error {
	c := e.newCommand("volar ls ID:/path [-r]")
	recursive := c.fs.Bool("r", false, "list the whole tree")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.nargs(pos, 1, 1); err != nil {
		return err
	}
	id, p, err := c.needRemote(pos[0])
	if err != nil {
		return err
	}
	api, err := e.api()
	if err != nil {
		return err
	}
	ctx, raw := e.rawContext()
	list, err := api.ListFiles(ctx, id, p, agentclient.ListOptions{Recursive: *recursive})
	if err != nil {
		return err
	}
	switch {
	case e.g.json:
		printJSON(e.stdout, *raw)
		return nil
	case e.g.quiet:
		for _, f := range list.Entries {
			fmt.Fprintln(e.stdout, displayName(list.Path, f, *recursive))
		}
	default:
		t := newTable(e.stdout, "MODE", "SIZE", "MODIFIED", "NAME")
		for _, f := range list.Entries {
			name := displayName(list.Path, f, *recursive)
			kind := "-"
			switch {
			case f.IsDir:
				kind, name = "d", name+"/"
			case f.IsSymlink:
				kind, name = "l", name+" -> "+f.LinkTarget
			}
			t.row(kind+f.Mode, humanBytes(f.Size), f.ModTime.Local().Format("2006-01-02 15:04"), name)
		}
		t.flush()
	}
	if list.Truncated {
		fmt.Fprintln(e.stderr, "volar: the listing was truncated; list a smaller tree")
	}
	return nil
}

// displayName is an entry's name, relative to the listed directory in a
// recursive listing.
func displayName(dir string, f agentclient.FileInfo, recursive bool) string {
	if !recursive || f.Path == "" {
		return f.Name
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(f.Path, dir), "/")
	if rel == "" {
		return f.Name
	}
	return rel
}

func cmdRmFile(e *env, args []string) error {
	c := e.newCommand("volar rm-file ID:/path... [-r]")
	recursive := c.fs.Bool("r", false, "delete a directory and everything in it")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.nargs(pos, 1, -1); err != nil {
		return err
	}
	type target struct{ id, p string }
	var targets []target
	for _, a := range pos {
		id, p, err := c.needRemote(a)
		if err != nil {
			return err
		}
		targets = append(targets, target{id, p})
	}
	api, err := e.api()
	if err != nil {
		return err
	}
	for _, t := range targets {
		if err := api.RemoveFile(e.ctx, t.id, t.p, *recursive); err != nil {
			return err
		}
	}
	return nil
}
