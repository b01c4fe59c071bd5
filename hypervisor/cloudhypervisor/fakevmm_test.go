package cloudhypervisor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/files"
	"github.com/volant-sh/volant/kestrel/proc"
	"github.com/volant-sh/volant/kestrel/reaper"
	"github.com/volant-sh/volant/kestrel/rootfs"
	"github.com/volant-sh/volant/kestrel/system"
)

// The fake VMM is this test binary run again with fakeVMMEnv set: it
// serves Cloud Hypervisor's API on --api-socket, validating every request
// (and its own answers) against the API document, and follows the VM's
// state machine. Each request is appended to the log named by fakeLogEnv.
const (
	fakeVMMEnv  = "VOLANT_FAKE_CH"
	fakeSpecEnv = "VOLANT_FAKE_CH_SPEC"
	fakeLogEnv  = "VOLANT_FAKE_CH_LOG"
	fakeVersion = "cloud-hypervisor v53.0.0-fake"
)

// loggedRequest is one line of the fake's request log.
type loggedRequest struct {
	Method  string          `json:"method"`
	Path    string          `json:"path"`
	Body    json.RawMessage `json:"body,omitempty"`
	Status  int             `json:"status"`
	Invalid string          `json:"invalid,omitempty"` // why the request broke the document
	BadAns  string          `json:"bad_answer,omitempty"`
}

// runFakeVMM is the fake's main.
func runFakeVMM(args []string) int {
	if len(args) > 0 && args[0] == "--version" {
		fmt.Println(fakeVersion)
		return 0
	}
	var sock string
	for i, a := range args {
		if a == "--api-socket" && i+1 < len(args) {
			sock = strings.TrimPrefix(args[i+1], "path=")
		}
	}
	if sock == "" {
		fmt.Fprintln(os.Stderr, "fake vmm: --api-socket path=... is required")
		return 2
	}
	doc, router, err := loadSpec(os.Getenv(fakeSpecEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake vmm:", err)
		return 2
	}
	f := &fakeVMM{doc: doc, router: router, logPath: os.Getenv(fakeLogEnv), exit: make(chan struct{})}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake vmm:", err)
		return 1
	}
	srv := &http.Server{Handler: f}
	go srv.Serve(ln)
	<-f.exit
	srv.Close()
	return 0
}

// loadSpec loads and checks the API document and makes its router.
func loadSpec(path string) (*openapi3.T, routers.Router, error) {
	if path == "" {
		return nil, nil, fmt.Errorf("no API document (%s unset)", fakeSpecEnv)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("loading %s: %w", path, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, nil, fmt.Errorf("the API document %s is not valid OpenAPI: %w", path, err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, nil, err
	}
	return doc, router, nil
}

type fakeVMM struct {
	doc     *openapi3.T
	router  routers.Router
	logPath string
	exit    chan struct{}

	mu     sync.Mutex
	state  string // "" (no VM), Created, Running, Paused, Shutdown
	config json.RawMessage
	vsock  net.Listener
	serial net.Listener
}

// ServeHTTP validates the request against the document, then answers it
// as the state machine says, and checks the answer against the document.
func (f *fakeVMM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.URL.Scheme, r.URL.Host = "http", "localhost"
	entry := loggedRequest{Method: r.Method, Path: r.URL.Path}
	if len(body) > 0 {
		entry.Body = json.RawMessage(body)
	}
	route, params, err := f.router.FindRoute(r)
	var in *openapi3filter.RequestValidationInput
	if err != nil {
		entry.Invalid = "no such operation: " + err.Error()
	} else {
		in = &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			entry.Invalid = err.Error()
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	status, answer := http.StatusBadRequest, []byte(`invalid request: `+entry.Invalid)
	if entry.Invalid == "" {
		status, answer = f.answer(strings.TrimPrefix(r.URL.Path, "/api/v1/"), body)
	}
	entry.Status = status
	if in != nil && entry.Invalid == "" {
		hdr := http.Header{}
		if len(answer) > 0 && status < 300 {
			hdr.Set("Content-Type", "application/json")
		}
		rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: hdr, Body: io.NopCloser(bytes.NewReader(answer))}
		if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
			entry.BadAns = err.Error()
		}
	}
	f.log(entry)
	if len(answer) > 0 && status < 300 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	w.Write(answer)
	if entry.Path == "/api/v1/vmm.shutdown" && status == http.StatusNoContent {
		close(f.exit)
	}
}

func (f *fakeVMM) log(e loggedRequest) {
	if f.logPath == "" {
		return
	}
	b, _ := json.Marshal(e)
	lf, err := os.OpenFile(f.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer lf.Close()
	lf.Write(append(b, '\n'))
}

// answer runs one operation of the state machine. Errors answer with the
// statuses the document gives the operation, and a plain-text reason.
func (f *fakeVMM) answer(op string, body []byte) (int, []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	no := func(status int, why string) (int, []byte) { return status, []byte(why) }
	ok := func() (int, []byte) { return http.StatusNoContent, nil }
	switch op {
	case "vmm.ping":
		b, _ := json.Marshal(vmmPing{Version: strings.TrimPrefix(fakeVersion, "cloud-hypervisor "), PID: int64(os.Getpid())})
		return http.StatusOK, b
	case "vmm.shutdown":
		return ok()
	case "vm.info":
		if f.state == "" {
			return no(http.StatusNotFound, "VM is not created")
		}
		b, _ := json.Marshal(map[string]any{"config": f.config, "state": f.state})
		return http.StatusOK, b
	case "vm.create":
		if f.state != "" {
			return no(http.StatusInternalServerError, "VM is already created")
		}
		f.config, f.state = append(json.RawMessage(nil), body...), "Created"
		return ok()
	case "vm.boot":
		if f.state == "" {
			return no(http.StatusNotFound, "VM is not created")
		}
		if f.state != "Created" {
			return no(http.StatusInternalServerError, "VM is already booted")
		}
		if err := f.startDevices(); err != nil {
			return no(http.StatusInternalServerError, err.Error())
		}
		f.state = "Running"
		return ok()
	case "vm.pause", "vm.resume", "vm.shutdown", "vm.power-button", "vm.snapshot", "vm.resize":
		if f.state == "" {
			return no(http.StatusNotFound, "VM is not created")
		}
		want := map[string]string{"vm.pause": "Running", "vm.resume": "Paused", "vm.snapshot": "Paused", "vm.power-button": "Running", "vm.resize": "Running"}[op]
		if want != "" && f.state != want {
			if op == "vm.resize" {
				return no(http.StatusInternalServerError, "VM is not running")
			}
			return no(http.StatusMethodNotAllowed, fmt.Sprintf("VM is %s, not %s", f.state, want))
		}
		if op == "vm.shutdown" && f.state != "Running" && f.state != "Paused" {
			return no(http.StatusMethodNotAllowed, "VM is not started")
		}
		switch op {
		case "vm.pause":
			f.state = "Paused"
		case "vm.resume":
			f.state = "Running"
		case "vm.power-button":
			// A guest booted with fake.deaf ignores the power button.
			if !strings.Contains(string(f.config), "fake.deaf") {
				f.state = "Shutdown"
			}
		case "vm.shutdown":
			f.state = "Shutdown"
		case "vm.snapshot":
			if err := f.writeSnapshot(body); err != nil {
				return no(http.StatusInternalServerError, err.Error())
			}
		}
		return ok()
	case "vm.restore":
		if f.state != "" {
			return no(http.StatusNotFound, "a VM is already created")
		}
		var rc restoreConfig
		json.Unmarshal(body, &rc)
		cfg, err := f.readSnapshot(rc.SourceURL)
		if err != nil {
			return no(http.StatusBadRequest, err.Error())
		}
		f.config = cfg
		if err := f.startDevices(); err != nil {
			return no(http.StatusConflict, err.Error())
		}
		f.state = "Paused"
		if rc.Resume != nil && *rc.Resume {
			f.state = "Running"
		}
		return ok()
	}
	return no(http.StatusInternalServerError, "the fake does not do "+op)
}

// writeSnapshot writes what Cloud Hypervisor writes into destination_url.
func (f *fakeVMM) writeSnapshot(body []byte) error {
	var sc snapshotConfig
	json.Unmarshal(body, &sc)
	dir, ok := strings.CutPrefix(sc.DestinationURL, "file://")
	if !ok {
		return fmt.Errorf("destination_url %q: want file://", sc.DestinationURL)
	}
	for name, data := range map[string][]byte{snapConfig: f.config, snapMemory: []byte("guest memory"), snapState: []byte(`{"state":"fake"}`)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// readSnapshot checks a restore source: its files are there, and its
// config.json is a VmConfig of the document whose disks exist.
func (f *fakeVMM) readSnapshot(url string) (json.RawMessage, error) {
	dir, ok := strings.CutPrefix(url, "file://")
	if !ok {
		return nil, fmt.Errorf("source_url %q: want file://", url)
	}
	for _, name := range []string{snapMemory, snapState} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("snapshot: %v", err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, snapConfig))
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	if err := f.doc.Components.Schemas["VmConfig"].Value.VisitJSON(v); err != nil {
		return nil, fmt.Errorf("config.json is not a VmConfig: %v", err)
	}
	var vc vmConfig
	json.Unmarshal(b, &vc)
	for _, d := range vc.Disks {
		if _, err := os.Stat(d.Path); err != nil {
			return nil, fmt.Errorf("disk: %v", err)
		}
	}
	return b, nil
}

// startDevices makes the serial and hybrid vsock sockets of the config.
func (f *fakeVMM) startDevices() error {
	var vc vmConfig
	if err := json.Unmarshal(f.config, &vc); err != nil {
		return err
	}
	if vc.Serial != nil && vc.Serial.Mode == "Socket" {
		ln, err := net.Listen("unix", vc.Serial.Socket)
		if err != nil {
			return err
		}
		f.serial = ln
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "fake guest: booted with %q\n", vc.Payload.Cmdline)
			}
		}()
	}
	if vc.Vsock != nil {
		ln, err := net.Listen("unix", vc.Vsock.Socket)
		if err != nil {
			return err
		}
		f.vsock = ln
		go serveHybridVsock(ln, agentMux())
	}
	return nil
}

// agentMux is kestrel's real system, file and process handlers, running
// on the host in place of the guest. Reconfigure plans are recorded, not
// applied: the "guest" is this host.
func agentMux() http.Handler {
	mux := http.NewServeMux()
	system.New(system.Config{Version: "fake", Apply: func(context.Context, system.Plan) (*client.NetState, error) { return nil, nil }}).Register(mux)
	files.Register(mux)
	rootfs.Register(mux)
	proc.New(proc.Config{Reaper: reaper.New(false)}).Register(mux)
	return mux
}

// serveHybridVsock speaks the host side of hybrid vsock on ln: a
// "CONNECT <port>\n" to port 1024 gets "OK <port>\n" and then h serves
// the stream; any other port is refused by closing the connection.
func serveHybridVsock(ln net.Listener, h http.Handler) {
	conns := make(chan net.Conn)
	go (&http.Server{Handler: h}).Serve(&chanListener{conns: conns, addr: ln.Addr()})
	for {
		c, err := ln.Accept()
		if err != nil {
			close(conns)
			return
		}
		go func() {
			br := bufio.NewReader(c)
			line, err := br.ReadString('\n')
			if err != nil || strings.TrimSpace(line) != "CONNECT 1024" {
				c.Close()
				return
			}
			fmt.Fprintf(c, "OK %d\n", 1073741824)
			conns <- c
		}()
	}
}

// chanListener is a net.Listener fed with connections over a channel.
type chanListener struct {
	conns chan net.Conn
	addr  net.Addr
}

func (l *chanListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l *chanListener) Close() error   { return nil }
func (l *chanListener) Addr() net.Addr { return l.addr }
