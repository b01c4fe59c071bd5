package rest

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/sandbox"
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

// guestOf returns the guest of a plain route's sandbox, or writes the error.
func (s *server) guestOf(w http.ResponseWriter, r *http.Request, what string) (*sandbox.Guest, bool) {
	g, err := s.eng.Guest(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, what, err)
		return nil, false
	}
	return g, true
}

func (s *server) guest(ctx context.Context, id, what string) (*sandbox.Guest, error) {
	g, err := s.eng.Guest(ctx, id)
	if err != nil {
		return nil, s.fail(ctx, what, err)
	}
	return g, nil
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

	del := engineChecked(op(http.MethodDelete, filesPath, "remove-file", "files",
		"Delete a file or directory", "A directory must be empty unless recursive is set.", fileErrs...))
	del.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, del, func(ctx context.Context, in *removeInput) (*struct{}, error) {
		g, err := s.guest(ctx, in.ID, "remove file")
		if err != nil {
			return nil, err
		}
		if err := g.RemoveFile(ctx, sandbox.RemoveFileRequest{Path: in.Path, Recursive: in.Recursive}); err != nil {
			return nil, s.fail(ctx, "remove file", err)
		}
		return nil, nil
	})

	huma.Register(s.api, engineChecked(op(http.MethodGet, filesPath+"/list", "list-files", "files",
		"List a directory", "Entries sorted by name; a recursive listing walks depth first.", fileErrs...)),
		func(ctx context.Context, in *listFilesInput) (*fileListOutput, error) {
			g, err := s.guest(ctx, in.ID, "list files")
			if err != nil {
				return nil, err
			}
			l, err := g.ListFiles(ctx, sandbox.ListFilesRequest{Path: in.Path, Recursive: in.Recursive, Limit: in.Limit})
			if err != nil {
				return nil, s.fail(ctx, "list files", err)
			}
			return &fileListOutput{Body: l}, nil
		})

	huma.Register(s.api, engineChecked(op(http.MethodGet, filesPath+"/stat", "stat-file", "files",
		"Describe a file", "Does not follow a final symlink.", fileErrs...)),
		func(ctx context.Context, in *pathInput) (*fileInfoOutput, error) {
			g, err := s.guest(ctx, in.ID, "stat file")
			if err != nil {
				return nil, err
			}
			fi, err := g.StatFile(ctx, sandbox.FileRequest{Path: in.Path})
			if err != nil {
				return nil, s.fail(ctx, "stat file", err)
			}
			return &fileInfoOutput{Body: fi}, nil
		})

	huma.Register(s.api, engineChecked(op(http.MethodPost, filesPath+"/mkdir", "make-directory", "files",
		"Create a directory", "Creates the directory and its parents (mkdir -p); an existing directory is fine.", fileErrs...)),
		func(ctx context.Context, in *mkdirInput) (*fileInfoOutput, error) {
			g, err := s.guest(ctx, in.ID, "mkdir")
			if err != nil {
				return nil, err
			}
			fi, err := g.Mkdir(ctx, sandbox.MkdirRequest{Path: in.Path, Mode: sandbox.Mode(in.Mode)})
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
	offset, err := parseInt("offset", q.Get("offset"), 0, 1<<62)
	var length int64
	if err == nil {
		length, err = parseInt("length", q.Get("length"), 0, 1<<62)
	}
	if err != nil {
		s.writeError(w, r, "read file", err)
		return
	}
	g, ok := s.guestOf(w, r, "read file")
	if !ok {
		return
	}
	rc, err := g.ReadFile(r.Context(), sandbox.ReadFileRequest{Path: q.Get("path"), Offset: offset, Length: length})
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
	mkdir, err := parseBool("mkdir", q.Get("mkdir"))
	if err == nil && r.ContentLength > s.maxUpload {
		err = &http.MaxBytesError{Limit: s.maxUpload}
	}
	if err != nil {
		s.writeError(w, r, "write file", err)
		return
	}
	g, ok := s.guestOf(w, r, "write file")
	if !ok {
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.maxUpload)
	req := sandbox.WriteFileRequest{Path: q.Get("path"), Mode: sandbox.Mode(q.Get("mode")), Mkdir: mkdir}
	fi, err := g.WriteFile(r.Context(), req, body)
	if err != nil {
		s.writeError(w, r, "write file", uploadError(err, body))
		return
	}
	writeJSONResponse(w, http.StatusOK, fi)
}

func (s *server) downloadTar(w http.ResponseWriter, r *http.Request) {
	g, ok := s.guestOf(w, r, "download tar")
	if !ok {
		return
	}
	rc, err := g.DownloadTar(r.Context(), sandbox.FileRequest{Path: r.URL.Query().Get("path")})
	if err != nil {
		s.writeError(w, r, "download tar", err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/x-tar")
	s.stream(w, r, rc, "download tar")
}

func (s *server) uploadTar(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > s.maxUpload {
		s.writeError(w, r, "upload tar", &http.MaxBytesError{Limit: s.maxUpload})
		return
	}
	g, ok := s.guestOf(w, r, "upload tar")
	if !ok {
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.maxUpload)
	res, err := g.UploadTar(r.Context(), sandbox.FileRequest{Path: r.URL.Query().Get("path")}, body)
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
