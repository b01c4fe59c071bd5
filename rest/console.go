package rest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"time"

	"github.com/volant-sh/volant/internal/tail"

	"github.com/coder/websocket"
)

// consoleLimit bounds how much of the console log a tail reads.
const consoleLimit = 16 << 20

// followEvery is how often a follower looks for new console output.
const followEvery = 250 * time.Millisecond

// maxTailLines bounds ?tail=.
const maxTailLines = 1_000_000

// consoleTail returns the last n lines (all when n <= 0) of a sandbox's
// console log, the log's path and the offset to follow from.
func (s *server) consoleTail(ctx context.Context, id string, n int) ([]byte, string, int64, error) {
	data, path, err := s.eng.ConsoleLog(ctx, id, consoleLimit)
	if err != nil {
		return nil, "", 0, err
	}
	// Read the file itself, so that the offset to follow from matches
	// what was sent; fall back on the engine's copy.
	var off int64
	if f, err := os.Open(path); err == nil {
		if fi, err := f.Stat(); err == nil {
			start := max(0, fi.Size()-consoleLimit)
			if b, err := io.ReadAll(io.NewSectionReader(f, start, fi.Size()-start)); err == nil {
				data, off = b, fi.Size()
			}
		}
		f.Close()
	}
	if off == 0 {
		off = int64(len(data))
	}
	return tail.Lines(data, n), path, off, nil
}

// follow calls emit with what is appended to path from offset until ctx
// ends or the file goes away. A file that shrinks was rotated or
// truncated: following starts again at its beginning.
func follow(ctx context.Context, path string, offset int64, emit func([]byte) error) error {
	t := time.NewTicker(followEvery)
	defer t.Stop()
	buf := make([]byte, 64<<10)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		if fi.Size() < offset {
			offset = 0
		}
		for offset < fi.Size() {
			n, err := f.ReadAt(buf, offset)
			if n > 0 {
				offset += int64(n)
				if err := emit(buf[:n]); err != nil {
					f.Close()
					return err
				}
			}
			if err != nil {
				break
			}
		}
		f.Close()
	}
}

func (s *server) consoleRoutes() {
	s.mux.HandleFunc("GET /v1/sandboxes/{id}/logs", s.logs)
	s.document(op(http.MethodGet, "/v1/sandboxes/{id}/logs", "get-logs", "console",
		"Read the serial console log",
		"The sandbox's serial console output (kernel and init messages, anything written to /dev/console) as text. "+
			"With follow=true the answer stays open and streams new output as it is written.",
		http.StatusBadRequest, http.StatusNotFound, http.StatusServiceUnavailable),
		nil, textResponse("Console output.", "text/plain"),
		queryParam("tail", "integer", "Only the last N lines; default all that is kept."),
		queryParam("follow", "boolean", "Keep streaming new output until the client disconnects."))

	s.mux.HandleFunc("GET /v1/sandboxes/{id}/console", s.console)
	s.document(op(http.MethodGet, "/v1/sandboxes/{id}/console", "console", "console",
		"Watch the serial console over a WebSocket",
		"A read-only WebSocket: the server sends the console's last lines (?tail=N, default 200) and then new output as it is "+
			"written, each as a binary message of raw bytes. Messages from the client are ignored. Browsers pass the token as ?access_token=.",
		http.StatusBadRequest, http.StatusNotFound, http.StatusServiceUnavailable),
		nil, switchingResponse("The WebSocket session."),
		queryParam("tail", "integer", "How many lines of history to send first; default 200."))
}

func (s *server) logs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := r.PathValue("id")
	tail, err := parseInt("tail", q.Get("tail"), 0, maxTailLines)
	var followOn bool
	if err == nil {
		followOn, err = parseBool("follow", q.Get("follow"))
	}
	if err != nil {
		s.writeError(w, r, "logs", err)
		return
	}
	data, path, off, err := s.consoleTail(r.Context(), id, int(tail))
	if err != nil {
		s.writeError(w, r, "logs", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !followOn {
		w.Write(data)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	w.Write(data)
	_ = rc.Flush()
	err = follow(r.Context(), path, off, func(b []byte) error {
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	})
	if err != nil && r.Context().Err() == nil {
		s.log.Warn("following console log", "sandbox", id, "err", err)
	}
}

func (s *server) console(w http.ResponseWriter, r *http.Request) {
	tail, err := parseInt("tail", r.URL.Query().Get("tail"), 0, maxTailLines)
	if err != nil {
		s.writeError(w, r, "console", err)
		return
	}
	if r.URL.Query().Get("tail") == "" {
		tail = 200
	}
	sb, c, ok := s.acceptSandboxWS(w, r, "console")
	if !ok {
		return
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context())
	data, path, off, err := s.consoleTail(ctx, sb.ID, int(tail))
	if err != nil {
		s.wsFail(ctx, c, "console", err)
		return
	}
	if len(data) > 0 {
		if err := writeChunks(ctx, c, data); err != nil {
			return
		}
	}
	err = follow(ctx, path, off, func(b []byte) error { return writeChunks(ctx, c, b) })
	if err != nil && ctx.Err() == nil {
		s.wsFail(ctx, c, "console", err)
		return
	}
	c.Close(websocket.StatusNormalClosure, "console closed")
}

// writeChunks sends b as binary messages of at most 64 KiB.
func writeChunks(ctx context.Context, c *websocket.Conn, b []byte) error {
	for len(b) > 0 {
		n := min(len(b), 64<<10)
		if err := c.Write(ctx, websocket.MessageBinary, bytes.Clone(b[:n])); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
