package client

// Wire types of the agent protocol. JSON []byte fields travel as base64.

// Health is the answer of GET /v1/health.
type Health struct {
	Version      string  `json:"version"`
	UptimeS      float64 `json:"uptime_s"`
	Kernel       string  `json:"kernel"`
	Hostname     string  `json:"hostname"`
	MemTotal     uint64  `json:"mem_total"`
	MemAvailable uint64  `json:"mem_available"`
	Load1        float64 `json:"load1"`
	Load5        float64 `json:"load5"`
	Load15       float64 `json:"load15"`
	Procs        int     `json:"procs"`
}

// DefaultMaxOutputBytes caps buffered output per stream when a request
// leaves MaxOutputBytes at zero.
const DefaultMaxOutputBytes = 1 << 20

// ExecRequest is the body of POST /v1/exec and POST /v1/processes.
type ExecRequest struct {
	// Argv is the command and its arguments; Argv[0] is looked up in the
	// PATH of Env (or the default PATH) when it has no slash.
	Argv []string `json:"argv"`
	// Env holds extra "KEY=value" entries over the defaults (PATH, HOME,
	// TERM=xterm, USER).
	Env []string `json:"env,omitempty"`
	// Cwd is the working directory; empty means the image's working
	// directory in an image root (ImageConfig), else the user's home
	// directory when it exists, else "/".
	Cwd string `json:"cwd,omitempty"`
	// User is a user name or numeric uid, optionally ":group"; empty
	// means the image's user in an image root, else the agent's user.
	User string `json:"user,omitempty"`
	// Stdin is written to the process's standard input. For exec the input
	// is then closed; for processes it stays open for later writes.
	Stdin []byte `json:"stdin,omitempty"`
	// TimeoutMS kills the process group after this many milliseconds.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// MaxOutputBytes caps the buffered output per stream (exec) or the
	// output ring (processes); 0 means DefaultMaxOutputBytes.
	MaxOutputBytes int `json:"max_output_bytes,omitempty"`
	// Stream asks POST /v1/exec for an NDJSON stream of OutputFrame lines.
	Stream bool `json:"stream,omitempty"`
}

// ExecResult is how a command ended. A command that cannot be started
// (not found, not executable, bad cwd or user) ends with ExitCode 127 (not
// found) or 126 (cannot execute) and Error saying why.
type ExecResult struct {
	ExitCode int `json:"exit_code"`
	// Signal names the signal that killed the process ("KILL"), if any;
	// ExitCode is then 128+signal number.
	Signal          string `json:"signal,omitempty"`
	Stdout          []byte `json:"stdout,omitempty"`
	Stderr          []byte `json:"stderr,omitempty"`
	StdoutTruncated bool   `json:"stdout_truncated,omitempty"`
	StderrTruncated bool   `json:"stderr_truncated,omitempty"`
	DurationMS      int64  `json:"duration_ms"`
	TimedOut        bool   `json:"timed_out,omitempty"`
	// Error says why the command could not be started, if it could not.
	Error string `json:"error,omitempty"`
}

// The stream names of output frames.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// OutputFrame is one NDJSON line of a streaming exec: either output
// (Stream and Data) or, last, the result (Exit, without buffered output).
type OutputFrame struct {
	Stream string      `json:"stream,omitempty"`
	Data   []byte      `json:"data,omitempty"`
	Exit   *ExecResult `json:"exit,omitempty"`
}

// ProcessInfo describes a process started with POST /v1/processes.
type ProcessInfo struct {
	ID        string   `json:"id"`
	PID       int      `json:"pid"`
	Argv      []string `json:"argv"`
	StartedNS int64    `json:"started_unix_ns"`
	Running   bool     `json:"running"`
	// Exit is set once the process has ended.
	Exit *ExecResult `json:"exit,omitempty"`
}

// OutputChunk is a run of bytes from one stream.
type OutputChunk struct {
	Stream string `json:"stream"`
	Data   []byte `json:"data"`
}

// ProcessOutput is the answer of GET /v1/processes/{id}/output. Output of
// both streams is kept in one bounded ring, in the order it was produced;
// offsets count bytes of both streams since the process started.
type ProcessOutput struct {
	// Offset is where Chunks start: the requested offset, or later when
	// the ring no longer held it.
	Offset int64 `json:"offset"`
	// NextOffset is the offset to ask for next.
	NextOffset int64 `json:"next_offset"`
	// Dropped counts bytes between the requested offset and Offset that
	// fell out of the ring; Truncated is Dropped > 0.
	Dropped   int64         `json:"dropped,omitempty"`
	Truncated bool          `json:"truncated,omitempty"`
	Chunks    []OutputChunk `json:"chunks"`
	// Done is true once the process has ended and all its output is
	// before NextOffset; Exit is then set.
	Done bool        `json:"done"`
	Exit *ExecResult `json:"exit,omitempty"`
}

// Stdout returns the stdout bytes of the chunks.
func (o *ProcessOutput) Stdout() []byte { return o.stream(StreamStdout) }

// Stderr returns the stderr bytes of the chunks.
func (o *ProcessOutput) Stderr() []byte { return o.stream(StreamStderr) }

func (o *ProcessOutput) stream(name string) []byte {
	var b []byte
	for _, c := range o.Chunks {
		if c.Stream == name {
			b = append(b, c.Data...)
		}
	}
	return b
}

// SignalRequest is the body of POST /v1/processes/{id}/signal. Signal is a
// name ("TERM", "SIGTERM") or a number ("15"); it goes to the process group.
type SignalRequest struct {
	Signal string `json:"signal"`
}

// PTYControl is a text message of a PTY WebSocket session: "resize"
// (Rows, Cols) and "signal" (Signal) from the host, "exit" (ExitCode,
// Signal) from the agent as its last message.
type PTYControl struct {
	Type     string `json:"type"`
	Rows     uint16 `json:"rows,omitempty"`
	Cols     uint16 `json:"cols,omitempty"`
	Signal   string `json:"signal,omitempty"`
	ExitCode int    `json:"exit_code"`
}

// ReconfigureRequest is the body of POST /v1/reconfigure. Every field is
// optional; the agent applies those that are set, in the order network,
// hostname, clock, entropy.
type ReconfigureRequest struct {
	// IPCIDR is the new address of eth0, for example "10.0.0.5/24".
	IPCIDR string `json:"ip_cidr,omitempty"`
	// Gateway becomes the default route.
	Gateway string `json:"gateway,omitempty"`
	// MAC is set on eth0 while the link is down.
	MAC string `json:"mac,omitempty"`
	// DNS servers are written to /etc/resolv.conf.
	DNS      []string `json:"dns,omitempty"`
	Hostname string   `json:"hostname,omitempty"`
	// TimeUnixNS sets the clock.
	TimeUnixNS int64 `json:"time_unix_ns,omitempty"`
	// Entropy reseeds the kernel's random pool.
	Entropy []byte `json:"entropy,omitempty"`
}

// ReconfigureResponse is the answer to POST /v1/reconfigure.
type ReconfigureResponse struct {
	OK bool `json:"ok"`
	// Net is the interface as the guest's kernel shows it after the
	// change, read back by the agent; set when the request touched the
	// network (address, gateway or MAC).
	Net *NetState `json:"net,omitempty"`
}

// SettleResponse is the answer to POST /v1/settle.
type SettleResponse struct {
	// WaitedMS is how long the agent waited for the kernel's deferred
	// boot work (at most 3 s).
	WaitedMS int64 `json:"waited_ms"`
}

// NetState is a guest interface as its kernel shows it.
type NetState struct {
	Link string `json:"link"`
	MAC  string `json:"mac"`
	Up   bool   `json:"up"`
	// Addrs are its global addresses, as CIDRs.
	Addrs []string `json:"addrs"`
	// Gateway is the default route's gateway on this link, if any.
	Gateway string `json:"gateway,omitempty"`
}
