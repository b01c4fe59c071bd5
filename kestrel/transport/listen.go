package transport

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/mdlayher/vsock"
)

// VsockAvailable reports whether the guest has an AF_VSOCK device.
func VsockAvailable() bool {
	_, err := os.Stat("/dev/vsock")
	return err == nil
}

// ListenVsock listens on an AF_VSOCK port.
func ListenVsock(port uint32) (net.Listener, error) {
	l, err := vsock.Listen(port, nil)
	if err != nil {
		return nil, fmt.Errorf("listening on vsock port %d: %w", port, err)
	}
	return l, nil
}

// Listen opens a listener from a spec: "unix:/path", "tcp:host:port",
// "serial:/dev/vportNpM" or "vsock:port". Specs are for tests and
// debugging on the host; as PID 1 the agent finds its devices itself.
func Listen(spec string, cfg SerialConfig) (net.Listener, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return nil, fmt.Errorf("listen spec %q: want unix:/path, tcp:host:port, serial:/dev/... or vsock:port", spec)
	}
	switch kind {
	case "unix":
		_ = os.Remove(arg)
		return net.Listen("unix", arg)
	case "tcp":
		return net.Listen("tcp", arg)
	case "serial":
		return ListenSerial(arg, cfg)
	case "vsock":
		var port uint32
		if _, err := fmt.Sscanf(arg, "%d", &port); err != nil {
			return nil, fmt.Errorf("vsock port %q: %w", arg, err)
		}
		return ListenVsock(port)
	}
	return nil, fmt.Errorf("listen spec %q: unknown kind %q (unix, tcp, serial, vsock)", spec, kind)
}
