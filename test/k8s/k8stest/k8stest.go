// Package k8stest starts a real Kubernetes control plane for tests: etcd
// and kube-apiserver from the binaries scripts/k8s-bins.sh builds (from the
// Go module proxy, pinned by test/k8s/tools), on loopback and random ports,
// in a temporary directory that is removed with everything it started.
// Authentication is a static admin token; the API server calls kubelets
// with a client certificate from the cluster's CA.
package k8stest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Cluster is a running etcd and API server.
type Cluster struct {
	// Config reaches the API server as an admin.
	Config *rest.Config
	// Client is a clientset over Config.
	Client kubernetes.Interface
	// Kubeconfig is a kubeconfig file for Config.
	Kubeconfig string
	// KubeletClientCA is the CA file of the API server's kubelet client
	// certificate: give it to a kubelet as its client CA.
	KubeletClientCA string
	// KubeletClientCert and KubeletClientKey are the API server's kubelet
	// client certificate, for a test that calls a kubelet API itself (the
	// API server's node proxy does not dial loopback addresses).
	KubeletClientCert, KubeletClientKey string
	// Dir holds the cluster's files.
	Dir string
}

// BinDir answers the directory holding etcd and kube-apiserver:
// $KUBEBUILDER_ASSETS, else the cache scripts/k8s-bins.sh fills, or why
// there is none.
func BinDir() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, haveBins(d)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	// The key is the script's: sha256sum of the tools module's go.mod and
	// go.sum, hashed again.
	var list bytes.Buffer
	for _, f := range []string{"test/k8s/tools/go.mod", "test/k8s/tools/go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&list, "%s  %s\n", hex.EncodeToString(sum[:]), f)
	}
	sum := sha256.Sum256(list.Bytes())
	key := hex.EncodeToString(sum[:])[:16]
	base := os.Getenv("K8S_BIN_CACHE")
	if base == "" {
		base = filepath.Join(os.TempDir(), "volant-k8s-bins")
	}
	d := filepath.Join(base, key)
	return d, haveBins(d)
}

func haveBins(d string) error {
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(d, b)); err != nil {
			return fmt.Errorf("%s is not built in %s: run scripts/k8s-bins.sh (make k8s-bins) once", b, d)
		}
	}
	return nil
}

func moduleRoot() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !strings.HasSuffix(dir, filepath.Join("test", "k8s", "tools")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", file)
		}
		dir = parent
	}
}

// Start runs etcd and an API server for t, stopped and removed in
// t.Cleanup. It skips t under -short and when the binaries are not built.
func Start(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starting etcd and kube-apiserver is not short")
	}
	bins, err := BinDir()
	if err != nil {
		t.Skip(err.Error())
	}
	dir, err := os.MkdirTemp("", "k8stest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c := &Cluster{Dir: dir}
	pki, err := writePKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.KubeletClientCA = pki.ca
	c.KubeletClientCert, c.KubeletClientKey = pki.kubeletClientCert, pki.kubeletClientKey

	etcdClient, etcdPeer, apiPort := freePort(t), freePort(t), freePort(t)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	start(t, dir, "etcd", filepath.Join(bins, "etcd"),
		"--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync", "--log-level=warn")

	apiDone := start(t, dir, "kube-apiserver", filepath.Join(bins, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(apiPort),
		// A loopback address cannot be the kubernetes Service's endpoint.
		"--endpoint-reconciler-type=none",
		"--tls-cert-file="+pki.serverCert, "--tls-private-key-file="+pki.serverKey,
		"--client-ca-file="+pki.ca,
		"--token-auth-file="+pki.tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+pki.saPub, "--service-account-signing-key-file="+pki.saKey,
		"--service-cluster-ip-range=10.96.0.0/24",
		"--kubelet-client-certificate="+pki.kubeletClientCert, "--kubelet-client-key="+pki.kubeletClientKey,
		"--kubelet-preferred-address-types=InternalIP",
		"--enable-priority-and-fairness=false",
		"--v=0")

	c.Config = &rest.Config{
		Host:            "https://127.0.0.1:" + strconv.Itoa(apiPort),
		BearerToken:     pki.token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: pki.ca},
		QPS:             200, Burst: 400,
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c, pki, apiDone)
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, certificate-authority: %q}
users:
- name: admin
  user: {token: %q}
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, c.Config.Host, pki.ca, pki.token)
	if err := os.WriteFile(c.Kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitReady waits until the API server answers /readyz, or fails t with
// its log when it ended.
func waitReady(t testing.TB, c *Cluster, pki *pkiFiles, exited <-chan struct{}) {
	t.Helper()
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(pki.ca)
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		req, _ := http.NewRequest(http.MethodGet, c.Config.Host+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+pki.token)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		ended := false
		select {
		case <-exited:
			ended = true
		case <-time.After(200 * time.Millisecond):
		}
		if ended || time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(c.Dir, "kube-apiserver.log"))
			t.Fatalf("kube-apiserver is not ready (ended: %v, last answer: %v); its log ends:\n%s", ended, err, tail(log, 4000))
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// start runs a binary with its output in dir/name.log, killed in
// t.Cleanup (after later cleanups: the API server stops before etcd). The
// channel is closed when the process ends.
func start(t testing.TB, dir, name, bin string, args ...string) <-chan struct{} {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s log ends:\n%s", name, tail(b, 3000))
			}
		})
	})
	return done
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pkiFiles are the cluster's certificates, keys and token file.
type pkiFiles struct {
	ca, serverCert, serverKey           string
	kubeletClientCert, kubeletClientKey string
	saKey, saPub                        string
	tokens, token                       string
}

// writePKI makes a CA, the API server's serving certificate, its kubelet
// client certificate (system:masters), a service account key pair and a
// token file with one admin token.
func writePKI(dir string) (*pkiFiles, error) {
	p := &pkiFiles{}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "k8stest-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p.ca = filepath.Join(dir, "ca.crt")
	if err := writePEM(p.ca, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	issue := func(name string, serial int64, tmpl *x509.Certificate) (string, string, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", "", err
		}
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return "", "", err
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return "", "", err
		}
		cert, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		if err := writePEM(cert, "CERTIFICATE", der); err != nil {
			return "", "", err
		}
		return cert, keyFile, writePEM(keyFile, "EC PRIVATE KEY", keyDER)
	}
	if p.serverCert, p.serverKey, err = issue("apiserver", 2, &x509.Certificate{
		Subject: pkix.Name{CommonName: "kube-apiserver"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1)},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}); err != nil {
		return nil, err
	}
	if p.kubeletClientCert, p.kubeletClientKey, err = issue("apiserver-kubelet-client", 3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	p.saKey, p.saPub = filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := writePEM(p.saKey, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := writePEM(p.saPub, "PUBLIC KEY", pub); err != nil {
		return nil, err
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	p.token = hex.EncodeToString(b)
	p.tokens = filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(p.tokens, []byte(p.token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// WaitFor polls cond every 200ms until it holds, ctx ends or the deadline
// passes; it fails t with what cond last said.
func WaitFor(t testing.TB, ctx context.Context, what string, deadline time.Duration, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(deadline)
	last := ""
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		if time.Now().After(end) || ctx.Err() != nil {
			t.Fatalf("%s: not after %s; last: %s", what, deadline, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// StartBinary runs bin with args beside the cluster (a scheduler, a
// controller), its output in Dir/name.log, stopped in t.Cleanup; the
// channel closes when it exits.
func (c *Cluster) StartBinary(t testing.TB, name, bin string, args ...string) <-chan struct{} {
	t.Helper()
	return start(t, c.Dir, name, bin, args...)
}
