package kubelet

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/volant-sh/volant/test/k8s/k8stest"
)

// TestPortForward carries kubectl port-forward to a server in the guest:
// the API server's portforward subresource, the provider, the engine's
// TCP tunnel and the agent channel.
func TestPortForward(t *testing.T) {
	w := newWorld(t, nil)
	w.startKubelet()
	ctx := context.Background()
	pod := testPodSpec("web", "volant.sh/runtime/default", "sh", "-c",
		"mkdir -p /tmp/www && echo pong > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www")
	if _, err := w.cluster.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitPod("web", "ready", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready
	})

	// The container is ready once httpd has started, which may be before
	// it listens; a port-forward whose first connection finds nothing
	// listening ends (client-go stops forwarding on a remote error), so
	// wait in the guest until the server answers.
	k8stest.WaitFor(t, ctx, "httpd answering in the guest", 2*time.Minute, func() (bool, string) {
		out, stderr, err := w.kubectlExec("web", false, "wget", "-q", "-O-", "http://127.0.0.1:8080/")
		return err == nil && strings.TrimSpace(out) == "pong", fmt.Sprintf("%q %q %v", out, stderr, err)
	})

	rt, upgrader, err := spdy.RoundTripperFor(w.cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(w.cluster.Config.Host + "/api/v1/namespaces/default/pods/web/portforward")
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	var out, errOut strings.Builder
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	defer func() {
		close(stop)
		<-done
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward ended: %v (%s)", err, errOut.String())
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("forwarded ports %v, %v", ports, err)
	}
	var body string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer through port-forward: %v %q (%s)", err, body, errOut.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if strings.TrimSpace(body) != "pong" {
		t.Errorf("through port-forward: %q, want pong", body)
	}
}
