package rest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
)

// pathInput is a sandbox route with a required guest ?path=.
type pathInput struct {
	ID   string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Sandbox id or name."`
	Path string `query:"path" required:"true" minLength:"1" maxLength:"4096" pattern:"^/" doc:"Absolute path in the sandbox."`
}

type listFilesInput struct {
	ID        string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Sandbox id or name."`
	Path      string `query:"path" required:"true" minLength:"1" maxLength:"4096" pattern:"^/" doc:"Absolute path in the sandbox."`
	Recursive bool   `query:"recursive" doc:"Walk the whole tree (symlinks are not followed)."`
	Limit     int    `query:"limit" minimum:"0" maximum:"100000" doc:"Most entries to answer; 0 means 10000. The answer says when it was truncated."`
}

type removeInput struct {
	ID        string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Sandbox id or name."`
	Path      string `query:"path" required:"true" minLength:"1" maxLength:"4096" pattern:"^/" doc:"Absolute path in the sandbox."`
	Recursive bool   `query:"recursive" doc:"Delete a directory and everything in it."`
}

type mkdirInput struct {
	ID   string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Sandbox id or name."`
	Path string `query:"path" required:"true" minLength:"1" maxLength:"4096" pattern:"^/" doc:"Absolute path in the sandbox."`
	Mode string `query:"mode" pattern:"^0?[0-7]{3,4}$" doc:"Octal permission bits, e.g. 0755 (the default)."`
}

type fileInfoOutput struct {
	Body *client.FileInfo
}

type fileListOutput struct {
	Body *client.FileList
}

// agentOf validates a plain file route's id and returns the agent.
func (s *server) agentOf(w http.ResponseWriter, r *http.Request, what string) (*client.Client, bool) {
	id := r.PathValue("id")
	if err := validID(id); err != nil {
		s.writeError(w, r, what, err)
		return nil, false
	}
	a, err := s.eng.Agent(r.Context(), id)
	if err != nil {
		s.writeError(w, r, what, err)
		return nil, false
	}
	return a, true
}

func (s *server) agentAt(ctx context.Context, id, path, what string) (*client.Client, error) {
	if err := validGuestPath(path); err != nil {
		return nil, s.fail(ctx, what, err)
	}
	a, err := s.eng.Agent(ctx, id)
	if err != nil {
		return nil, s.fail(ctx, what, err)
	}
	return a, nil
}

func parseMode(v string) (fs.FileMode, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, errdefs.Invalid("mode %q: use octal permission bits such as 0644", truncate(v, 20))
	}
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}

func (s *server) fileRoutes() {
	const filesPath = "/v1/sandboxes/{id}/files"
	fileErrs := []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable}

	s.mux.HandleFunc("GET "+filesPath, s.readFile)
	s.document(op(http.MethodGet, filesPath, "read-file", "files",
		"Download a file", "Streams the file's bytes; offset and length read a range.", fileErrs...),
		nil, binaryResponse("The file's bytes.", "application/octet-stream"),
		guestPathParam("Absolute path of the file."),
		queryParam("offset", "integer", "First byte to read; default 0."),
		queryParam("length", "integer", "Most bytes to read; default to the end."))

	s.mux.HandleFunc("PUT "+filesPath, s.writeFile)
	s.document(op(http.MethodPut, filesPath, "write-file", "files",
		"Upload a file",
		"Writes the request body to the file atomically (readers see the old or the new file, never a part) and answers its stat. "+
			"The body is streamed; its size is limited by the server (1 GiB by default).",
		append(fileErrs, http.StatusRequestEntityTooLarge)...),
		binaryBody("The file's new content.", "application/octet-stream"),
		jsonResponse[client.FileInfo](s, http.StatusOK, "The written file."),
		guestPathParam("Absolute path of the file."),
		queryParam("mode", "string", "Octal permission bits, e.g. 0644; default keeps the old file's mode, or 0644."),
		queryParam("mkdir", "boolean", "Create missing parent directories."))

	del := op(http.MethodDelete, filesPath, "remove-file", "files",
		"Delete a file or directory", "A directory must be empty unless recursive is set.", fileErrs...)
	del.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, del, func(ctx context.Context, in *removeInput) (*struct{}, error) {
		a, err := s.agentAt(ctx, in.ID, in.Path, "remove file")
		if err != nil {
			return nil, err
		}
		if err := a.Remove(ctx, in.Path, in.Recursive); err != nil {
			return nil, s.fail(ctx, "remove file", err)
		}
		return nil, nil
	})

	huma.Register(s.api, op(http.MethodGet, filesPath+"/list", "list-files", "files",
		"List a directory", "Entries sorted by name; a recursive listing walks depth first.", fileErrs...),
		func(ctx context.Context, in *listFilesInput) (*fileListOutput, error) {
			a, err := s.agentAt(ctx, in.ID, in.Path, "list files")
			if err != nil {
				return nil, err
			}
			l, err := a.List(ctx, in.Path, client.ListOptions{Recursive: in.Recursive, Limit: in.Limit})
			if err != nil {
				return nil, s.fail(ctx, "list files", err)
			}
			return &fileListOutput{Body: l}, nil
		})

	huma.Register(s.api, op(http.MethodGet, filesPath+"/stat", "stat-file", "files",
		"Describe a file", "Does not follow a final symlink.", fileErrs...),
		func(ctx context.Context, in *pathInput) (*fileInfoOutput, error) {
			a, err := s.agentAt(ctx, in.ID, in.Path, "stat file")
			if err != nil {
				return nil, err
			}
			fi, err := a.Stat(ctx, in.Path)
			if err != nil {
				return nil, s.fail(ctx, "stat file", err)
			}
			return &fileInfoOutput{Body: fi}, nil
		})

	huma.Register(s.api, op(http.MethodPost, filesPath+"/mkdir", "make-directory", "files",
		"Create a directory", "Creates the directory and its parents (mkdir -p); an existing directory is fine.", fileErrs...),
		func(ctx context.Context, in *mkdirInput) (*fileInfoOutput, error) {
			mode, err := parseMode(in.Mode)
			if err != nil {
				return nil, s.fail(ctx, "mkdir", err)
			}
			a, err := s.agentAt(ctx, in.ID, in.Path, "mkdir")
			if err != nil {
				return nil, err
			}
			fi, err := a.Mkdir(ctx, in.Path, mode)
			if err != nil {
				return nil, s.fail(ctx, "mkdir", err)
			}
			return &fileInfoOutput{Body: fi}, nil
		})

	s.mux.HandleFunc("GET "+filesPath+"/tar", s.downloadTar)
	s.document(op(http.MethodGet, filesPath+"/tar", "download-tar", "files",
		"Download a directory as tar",
		"Streams a tar archive of the file or directory tree. Names are relative to path; symlinks stay links; devices, fifos and sockets are left out.",
		fileErrs...),
		nil, binaryResponse("The tar archive.", "application/x-tar"),
		guestPathParam("Absolute path of the directory (or file) to archive."))

	s.mux.HandleFunc("PUT "+filesPath+"/tar", s.uploadTar)
	s.document(op(http.MethodPut, filesPath+"/tar", "upload-tar", "files",
		"Upload a tar archive into a directory",
		"Extracts the tar stream into the directory (created if missing). Entries that would land outside it are refused.",
		append(fileErrs, http.StatusRequestEntityTooLarge)...),
		binaryBody("A tar archive.", "application/x-tar"),
		jsonResponse[client.TarResult](s, http.StatusOK, "What was extracted."),
		guestPathParam("Absolute path of the target directory."))
}

func (s *server) readFile(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	path := q.Get("path")
	offset, err := parseInt("offset", q.Get("offset"), 0, 1<<62)
	if err == nil {
		err = validGuestPath(path)
	}
	var length int64
	if err == nil {
		length, err = parseInt("length", q.Get("length"), 0, 1<<62)
	}
	if err != nil {
		s.writeError(w, r, "read file", err)
		return
	}
	a, ok := s.agentOf(w, r, "read file")
	if !ok {
		return
	}
	rc, err := a.ReadFile(r.Context(), path, offset, length)
	if err != nil {
		s.writeError(w, r, "read file", err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	s.stream(w, r, rc, "read file")
}

// stream copies rc to w after the headers are sent. A failure midway
// aborts the response, so the client sees a broken transfer rather than a
// short file.
func (s *server) stream(w http.ResponseWriter, r *http.Request, rc io.Reader, what string) {
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		if r.Context().Err() == nil {
			s.log.Warn(what+": transfer broken", "path", r.URL.Path, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}

func (s *server) writeFile(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	path := q.Get("path")
	err := validGuestPath(path)
	var mode fs.FileMode
	var mkdir bool
	if err == nil {
		mode, err = parseMode(q.Get("mode"))
	}
	if err == nil {
		mkdir, err = parseBool("mkdir", q.Get("mkdir"))
	}
	if err == nil && r.ContentLength > s.maxUpload {
		err = &http.MaxBytesError{Limit: s.maxUpload}
	}
	if err != nil {
		s.writeError(w, r, "write file", err)
		return
	}
	a, ok := s.agentOf(w, r, "write file")
	if !ok {
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.maxUpload)
	fi, err := a.WriteFile(r.Context(), path, body, client.WriteOptions{Mode: mode, MkdirAll: mkdir})
	if err != nil {
		s.writeError(w, r, "write file", uploadError(err, body))
		return
	}
	writeJSONResponse(w, http.StatusOK, fi)
}

func (s *server) downloadTar(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if err := validGuestPath(path); err != nil {
		s.writeError(w, r, "download tar", err)
		return
	}
	a, ok := s.agentOf(w, r, "download tar")
	if !ok {
		return
	}
	rc, err := a.DownloadTar(r.Context(), path)
	if err != nil {
		s.writeError(w, r, "download tar", err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/x-tar")
	s.stream(w, r, rc, "download tar")
}

func (s *server) uploadTar(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	err := validGuestPath(path)
	if err == nil && r.ContentLength > s.maxUpload {
		err = &http.MaxBytesError{Limit: s.maxUpload}
	}
	if err != nil {
		s.writeError(w, r, "upload tar", err)
		return
	}
	a, ok := s.agentOf(w, r, "upload tar")
	if !ok {
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.maxUpload)
	res, err := a.UploadTar(r.Context(), path, body)
	if err != nil {
		s.writeError(w, r, "upload tar", uploadError(err, body))
		return
	}
	writeJSONResponse(w, http.StatusOK, res)
}

// uploadError prefers the body's size error: when the limit cuts the
// upload, the agent only sees a broken request.
func uploadError(err error, body io.ReadCloser) error {
	var buf [1]byte
	if _, rerr := body.Read(buf[:]); rerr != nil {
		var mbe *http.MaxBytesError
		if errors.As(rerr, &mbe) {
			return rerr
		}
	}
	return err
}
