package rest

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/sandbox"
)

// execBody is the exec request of the API: the engine's.
type execBody = sandbox.ExecCommand

type execInput struct {
	ID   string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Sandbox id or name."`
	Body execBody
}

type execOutput struct {
	Body *sandbox.ExecResult
}

func (s *server) execRoutes() {
	ex := op(http.MethodPost, "/v1/sandboxes/{id}/exec", "exec", "exec",
		"Run a command and wait for it",
		"Runs cmd in the running sandbox and answers its buffered output and exit status. "+
			"A command that cannot be started ends with exit code 127 (not found) or 126. "+
			"For long or interactive commands use the WebSocket route /v1/sandboxes/{id}/exec/stream.",
		http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable)
	ex.MaxBodyBytes = 17 << 20
	ex = engineChecked(ex)
	huma.Register(s.api, ex, func(ctx context.Context, in *execInput) (*execOutput, error) {
		res, err := s.eng.Exec(ctx, in.ID, in.Body.Request(), nil)
		if err != nil {
			return nil, s.fail(ctx, "exec", err)
		}
		return &execOutput{Body: res}, nil
	})

	s.mux.HandleFunc("GET /v1/sandboxes/{id}/exec/stream", s.execStream)
	s.document(op(http.MethodGet, "/v1/sandboxes/{id}/exec/stream", "exec-stream", "exec",
		"Run a command over a WebSocket", execStreamDoc,
		http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable),
		nil, switchingResponse("The WebSocket session; see the description for its protocol."))
}

const execStreamDoc = "A WebSocket session running one command, with live output and input.\n\n" +
	"1. The client sends one text message: the exec request (the body of POST .../exec: cmd, env, cwd, user, timeout_s; stdin is not used) " +
	"plus `\"pty\": true, \"rows\": 24, \"cols\": 80` for an interactive terminal.\n" +
	"2. Without pty, the server sends text messages `{\"type\":\"stdout\"|\"stderr\",\"data\":\"<base64>\"}` as output is produced. " +
	"The client sends `{\"type\":\"stdin\",\"data\":\"<base64>\"}` (or binary messages, taken as raw stdin), " +
	"`{\"type\":\"stdin_close\"}` to send EOF, and `{\"type\":\"signal\",\"signal\":\"INT\"}`.\n" +
	"3. With pty, the command runs on a terminal of rows x cols (default 24x80); `\"cmd\":[\"sh\"]` is an interactive shell. " +
	"Output arrives as binary messages of raw terminal bytes (stdout and stderr as one stream, with the terminal's echo) " +
	"and binary messages from the client are keystrokes. " +
	"The client may send `{\"type\":\"resize\",\"rows\":R,\"cols\":C}` to change the window size and " +
	"`{\"type\":\"signal\",\"signal\":\"INT\"}` to signal the terminal's foreground process group. " +
	"There is no stdin_close: send Ctrl-D (byte 4). timeout_s hangs the terminal up and kills its processes (the exit says timed_out); " +
	"max_output_bytes does not apply.\n" +
	"4. Last, the server sends `{\"type\":\"exit\",\"exit_code\":N,\"signal\":\"KILL\",\"timed_out\":false,\"duration_ms\":N}` " +
	"and closes normally. A failure is sent as `{\"type\":\"error\",\"status\":N,\"message\":\"...\"}` before the close.\n\n" +
	"Closing the WebSocket kills the command. Browsers pass the token as ?access_token=."
