package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/daemon"
	"github.com/volant-sh/volant/internal/logging"
	"github.com/volant-sh/volant/kubelet"
)

const kubeletUsage = `usage: volantd kubelet --kubeconfig FILE --node-name NAME --client-ca-file FILE [flags]

Registers this volantd host as a Kubernetes node (a virtual-kubelet provider)
and runs the Pods placed on it as Volant sandboxes. See docs/kubernetes.md.`

// kubeletCmd runs the Kubernetes provider of one volantd.
func kubeletCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("kubelet", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), kubeletUsage); fs.PrintDefaults() }
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server (default $KUBECONFIG)")
	nodeName := fs.String("node-name", "", "the Node's name (default the host name)")
	volantURL := fs.String("volant-url", "http://127.0.0.1:7777", "volantd's REST API")
	tokenFile := fs.String("token-file", "", "file holding a volantd API token (default STATE_DIR/token of the default state dir)")
	listen := fs.String("listen", ":10250", "the kubelet API's HTTPS address, called by the API server for logs, exec and port-forward")
	nodeIP := fs.String("node-ip", "", "the InternalIP the API server reaches the kubelet API on (default the first non-loopback address)")
	certFile := fs.String("tls-cert-file", "", "serving certificate of the kubelet API (default self-signed)")
	keyFile := fs.String("tls-key-file", "", "its key")
	clientCA := fs.String("client-ca-file", "", "CA of the API server's kubelet client certificate; only its certificates may call the kubelet API")
	interval := fs.Duration("status-interval", 5*time.Second, "how often volantd's health and the sandboxes are read")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" {
		return errors.New("pass --kubeconfig (or set KUBECONFIG)")
	}
	if *nodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("no --node-name and no host name: %w", err)
		}
		*nodeName = strings.ToLower(h)
	}
	if *tokenFile == "" {
		*tokenFile = daemon.TokenPath(daemon.Defaults().StateDir)
	}
	tok, err := os.ReadFile(*tokenFile)
	if err != nil {
		return fmt.Errorf("reading the volantd token: %w (pass --token-file)", err)
	}
	vol, err := apiclient.New(apiclient.Options{BaseURL: *volantURL, Token: strings.TrimSpace(string(tok)), UserAgent: "volant-kubelet/" + daemon.Version})
	if err != nil {
		return err
	}
	rest, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	rest.UserAgent = "volant-kubelet/" + daemon.Version
	kube, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return err
	}
	lvl, err := logging.ParseLevel(*logLevel)
	if err != nil {
		return err
	}
	k, err := kubelet.Start(ctx, kubelet.Config{
		NodeName: *nodeName, Volant: vol, Kube: kube,
		ListenAddr: *listen, NodeIP: *nodeIP, CertFile: *certFile, KeyFile: *keyFile, ClientCAFile: *clientCA,
		StatusInterval: *interval, Version: daemon.Version, Logger: logging.New(stderr, lvl),
	})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-k.Done():
	}
	return k.Close()
}
