// Package kubelet registers a volantd host as a Kubernetes node through a
// virtual-kubelet provider and runs the Pods placed on it as Volant
// sandboxes, one sandbox per Pod. volantd's REST API (apiclient) is its
// only way to the engine; the Kubernetes API server is reached with
// client-go, and the API server reaches the provider's kubelet API (logs,
// exec, port-forward) over HTTPS with the node's serving certificate.
package kubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/volant-sh/volant/apiclient"
)

// Config configures a Kubelet.
type Config struct {
	// NodeName is the Node's name; required.
	NodeName string
	// Hostname is the volant.sh/host label; empty means os.Hostname.
	Hostname string
	// Volant is the client of this host's volantd; required.
	Volant *apiclient.Client
	// Kube is the client of the Kubernetes API server; required.
	Kube kubernetes.Interface
	// ListenAddr is where the kubelet API listens (HTTPS); default
	// ":10250".
	ListenAddr string
	// NodeIP is the InternalIP the API server calls the kubelet API on;
	// empty means the first non-loopback address of the host.
	NodeIP string
	// CertFile and KeyFile are the serving certificate; empty means a
	// self-signed one made at start for NodeIP and NodeName.
	CertFile, KeyFile string
	// ClientCAFile is the CA of the client certificates the kubelet API
	// accepts (the API server's --kubelet-client-certificate); required,
	// since exec into a sandbox must not be open to anyone.
	ClientCAFile string
	// StatusInterval is how often volantd's health and each Pod's
	// sandbox are read; default 5s.
	StatusInterval time.Duration
	// Workers is how many Pods are synced at once; default 4.
	Workers int
	// Version is reported as the kubelet version.
	Version string
	// Logger receives the provider's logs; nil discards them.
	Logger *slog.Logger
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	switch {
	case c.NodeName == "":
		return errors.New("node name is missing: pass --node-name")
	case c.Volant == nil:
		return errors.New("no volantd client: pass --volant-url")
	case c.Kube == nil:
		return errors.New("no Kubernetes client: pass --kubeconfig")
	case c.ClientCAFile == "":
		return errors.New("client CA is missing: pass --client-ca-file, the CA of the API server's kubelet client certificate, so only the API server may exec into sandboxes")
	case (c.CertFile == "") != (c.KeyFile == ""):
		return errors.New("pass both --tls-cert-file and --tls-key-file, or neither for a self-signed certificate")
	}
	return nil
}

// Kubelet is one running provider: its node, pod controller and kubelet
// API. Close stops it; the sandboxes stay.
type Kubelet struct {
	p      *provider
	node   *nodeutil.Node
	eb     record.EventBroadcaster
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	addr   net.Addr
	closed sync.Once
}

// Start registers the node and runs the provider until Close or until ctx
// ends. It returns once the node is registered and the pod controller
// runs, having first adopted the sandboxes this node's Pods already have.
func Start(ctx context.Context, cfg Config) (*Kubelet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = ":10250"
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 5 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = hostIP()
	}
	tlsCfg, err := servingTLS(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", cfg.ListenAddr, tlsCfg)
	if err != nil {
		return nil, fmt.Errorf("listening for the kubelet API on %s: %w", cfg.ListenAddr, err)
	}
	_, portStr, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(portStr)

	eb := record.NewBroadcaster()
	eb.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cfg.Kube.CoreV1().Events("")})
	rec := eb.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "volant-kubelet", Host: cfg.NodeName})

	p := newProvider(cfg.Volant, cfg.NodeName, cfg.NodeIP, log, rec, cfg.StatusInterval)
	p.kube = cfg.Kube
	ns := &nodeStatus{p: p, interval: cfg.StatusInterval, node: nodeSpec(cfg.NodeName, cfg.Hostname, cfg.NodeIP, int32(port), cfg.Version)}
	ns.check(ctx)

	// The stream opens before the adoption so no change falls between.
	stream := p.openEvents(p.life)
	adopted, err := p.resync(ctx)
	if err != nil {
		if stream != nil {
			stream.Close()
		}
		ln.Close()
		eb.Shutdown()
		p.close()
		return nil, err
	}
	log.Info("adopted this node's sandboxes", "count", adopted)

	mux := http.NewServeMux()
	nodeCfg := func(c *nodeutil.NodeConfig) error {
		c.Client = cfg.Kube
		c.NodeSpec = *ns.node.DeepCopy()
		c.NumWorkers = cfg.Workers
		c.EventRecorder = rec
		// The provider serves the kubelet API itself, on ln.
		c.TLSConfig = nil
		c.Handler = nil
		c.HTTPListenAddr = ln.Addr().String()
		return nil
	}
	n, err := nodeutil.NewNode(cfg.NodeName, func(pc nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
		p.mu.Lock()
		p.lister = pc.Pods
		p.mu.Unlock()
		return p, ns, nil
	}, nodeCfg, nodeutil.AttachProviderRoutes(mux))
	if err != nil {
		if stream != nil {
			stream.Close()
		}
		ln.Close()
		eb.Shutdown()
		p.close()
		return nil, fmt.Errorf("setting up the node: %w", err)
	}

	runCtx, cancel := context.WithCancel(vklog.WithLogger(context.Background(), slogLogger{log}))
	k := &Kubelet{p: p, node: n, eb: eb, cancel: cancel, done: make(chan struct{}), addr: ln.Addr()}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	p.goBackground(func() { _ = srv.Serve(ln) })
	p.goBackground(func() {
		<-p.life.Done()
		_ = srv.Close()
	})
	p.watch(stream)
	p.goBackground(func() { ns.run(p.life) })
	go func() {
		defer close(k.done)
		k.err = n.Run(runCtx)
	}()
	select {
	case <-n.Ready():
	case <-k.done:
		k.Close()
		return nil, fmt.Errorf("starting the node: %w", k.err)
	case <-ctx.Done():
		k.Close()
		return nil, ctx.Err()
	}
	log.Info("node registered", "node", cfg.NodeName, "kubelet_api", ln.Addr().String(), "ip", cfg.NodeIP)
	return k, nil
}

// Addr is where the kubelet API listens.
func (k *Kubelet) Addr() net.Addr { return k.addr }

// Done is closed when the provider stopped.
func (k *Kubelet) Done() <-chan struct{} { return k.done }

// Err is why the provider stopped, once Done is closed.
func (k *Kubelet) Err() error {
	select {
	case <-k.done:
		return k.err
	default:
		return nil
	}
}

// Close stops the provider and waits for it. The sandboxes keep running
// and a provider started again adopts them.
func (k *Kubelet) Close() error {
	k.closed.Do(func() {
		k.cancel()
		<-k.done
		k.p.close()
		k.eb.Shutdown()
	})
	if errors.Is(k.err, context.Canceled) {
		return nil
	}
	return k.err
}

// servingTLS is the kubelet API's TLS: the serving certificate (given or
// self-signed) and client certificates required from ClientCAFile.
func servingTLS(cfg Config) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	if cfg.CertFile != "" {
		cert, err = tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	} else {
		cert, err = selfSigned(cfg.NodeName, cfg.NodeIP)
	}
	if err != nil {
		return nil, fmt.Errorf("the kubelet API's serving certificate: %w", err)
	}
	pem, err := os.ReadFile(cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("reading the client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client CA %s holds no PEM certificate", cfg.ClientCAFile)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		NextProtos:   []string{"http/1.1"},
	}, nil
}

// hostIP is the first non-loopback IPv4 address of the host, or
// 127.0.0.1.
func hostIP() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}
