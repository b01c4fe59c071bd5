package client

// The agent channel contract shared by kestrel (guest) and the hypervisor
// drivers (host). Above the byte stream the protocol is plain HTTP/1.1.
const (
	// SerialPortName is the virtio-serial port name the agent listens on
	// when there is no vsock. The host side is a unix socket; one host
	// connection at a time carries a yamux session (host = client, guest =
	// server, keepalives off), and each logical connection is one stream.
	SerialPortName = "org.volant.agent.0"
	// VsockPort is the AF_VSOCK port the agent listens on when vsock exists.
	VsockPort = 1024
	// ConsoleDevice is the guest's serial console.
	ConsoleDevice = "ttyS0"
)
