package kubelet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
	"github.com/volant-sh/volant/internal/logging"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
	"github.com/volant-sh/volant/test/k8s/k8stest"
)

const testNode = "volant-test"

// world is a real API server, a real engine with real guests behind its
// REST API, and the client of each.
type world struct {
	t       *testing.T
	cluster *k8stest.Cluster
	env     *sandboxtest.Env
	vol     *apiclient.Client
	// down makes the REST API drop every connection, as a volantd that
	// went away.
	down *atomic.Bool
	// kubeletAddr is the running provider's kubelet API, when a test
	// notes it.
	kubeletAddr string
}

func newWorld(t *testing.T, mod func(*sandbox.Config)) *world {
	t.Helper()
	if testing.Short() {
		t.Skip("boots guests and a Kubernetes control plane")
	}
	cluster := k8stest.Start(t)
	env, vol, down := newEngine(t, mod)
	// No controller manager runs, so the default service account that
	// Pods need is made here.
	ctx := context.Background()
	_, err := cluster.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// The controller manager also publishes the cluster's CA to every
	// namespace; the service account token volume projects it.
	ca, err := os.ReadFile(cluster.Config.TLSClientConfig.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cluster.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"},
		Data: map[string]string{"ca.crt": string(ca)}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return &world{t: t, cluster: cluster, env: env, vol: vol, down: down}
}

// newEngine is a real engine with real guests behind the real REST
// handler, and a client of it. down makes the API drop every connection,
// as a volantd that went away.
func newEngine(t *testing.T, mod func(*sandbox.Config)) (*sandboxtest.Env, *apiclient.Client, *atomic.Bool) {
	t.Helper()
	env := sandboxtest.New(t, mod)
	a := auth.New(authtest.NewStore(), nil)
	tok, _, err := a.Create(context.Background(), "kubelet", auth.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	api := rest.New(rest.Options{Manager: env.Manager, Auth: a, Events: env.Bus})
	down := &atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	vol, err := apiclient.New(apiclient.Options{BaseURL: srv.URL, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	return env, vol, down
}

// startKubelet starts a provider for the node, closed in t.Cleanup if
// the test did not close it.
func (w *world) startKubelet() *Kubelet {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lvl, err := logging.ParseLevel(os.Getenv("VOLANT_TEST_LOG"))
	if os.Getenv("VOLANT_TEST_LOG") == "" || err != nil {
		lvl = slog.LevelWarn
	}
	k, err := Start(ctx, Config{
		NodeName: testNode, Hostname: "test-host", Volant: w.vol, Kube: w.cluster.Client,
		ListenAddr: "127.0.0.1:0", NodeIP: "127.0.0.1", ClientCAFile: w.cluster.KubeletClientCA,
		StatusInterval: time.Second, Logger: logging.New(os.Stderr, lvl),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = k.Close() })
	return k
}

// testPodSpec is a Pod for the node: it tolerates the taint and selects
// the node (and names it, as no scheduler runs).
func testPodSpec(name, image string, command ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:     testNode,
			NodeSelector: map[string]string{"type": "virtual-kubelet"},
			Tolerations:  []corev1.Toleration{{Key: TaintKey, Operator: corev1.TolerationOpEqual, Value: TaintValue, Effect: corev1.TaintEffectNoSchedule}},
			Containers:   []corev1.Container{{Name: "main", Image: image, Command: command}},
		},
	}
}

// waitPod waits until the Pod satisfies cond.
func (w *world) waitPod(name string, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	w.t.Helper()
	var last *corev1.Pod
	k8stest.WaitFor(w.t, context.Background(), "pod "+name+" "+what, 10*time.Minute, func() (bool, string) {
		p, err := w.cluster.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		last = p
		return cond(p), fmt.Sprintf("phase %s %s %+v", p.Status.Phase, p.Status.Message, p.Status.ContainerStatuses)
	})
	return last
}

func (w *world) podSandboxes() []*sandbox.Sandbox {
	w.t.Helper()
	page, err := w.vol.ListSandboxes(context.Background(), sandbox.ListOptions{Labels: map[string]string{LabelNode: testNode}})
	if err != nil {
		w.t.Fatal(err)
	}
	return page.Items
}

func TestNodeAndPodLifecycle(t *testing.T) {
	w := newWorld(t, nil)
	ctx := context.Background()
	k := w.startKubelet()
	kube := w.cluster.Client

	// The node is registered with its labels, taint and the engine's
	// budget.
	node, err := kube.CoreV1().Nodes().Get(ctx, testNode, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"type": "virtual-kubelet", "kubernetes.io/role": "agent", LabelHost: "test-host"} {
		if node.Labels[k] != v {
			t.Errorf("node label %s = %q, want %q", k, node.Labels[k], v)
		}
	}
	// The API server adds node.kubernetes.io/not-ready to a new node; the
	// controller manager, which does not run here, would lift it.
	tainted := false
	for _, tn := range node.Spec.Taints {
		switch {
		case tn.Key == TaintKey && tn.Value == TaintValue && tn.Effect == corev1.TaintEffectNoSchedule:
			tainted = true
		case tn.Key == "node.kubernetes.io/not-ready":
		default:
			t.Errorf("unexpected node taint %+v", tn)
		}
	}
	if !tainted {
		t.Errorf("node taints = %+v, want %s=%s:NoSchedule", node.Spec.Taints, TaintKey, TaintValue)
	}
	budget := w.env.Config.Budget
	if got := node.Status.Capacity.Cpu().Value(); got != int64(budget.VCPUs) {
		t.Errorf("node cpu capacity %d, want %d", got, budget.VCPUs)
	}
	if got := node.Status.Allocatable.Memory().Value(); got != int64(budget.MemoryMiB)<<20 {
		t.Errorf("node allocatable memory %d, want %d MiB", got, budget.MemoryMiB)
	}

	// A Pod becomes a sandbox and turns Running with the sandbox's IP.
	t0 := time.Now()
	if _, err := kube.CoreV1().Pods("default").Create(ctx, testPodSpec("hello", "volant.sh/runtime/default",
		"sh", "-c", "echo hello-from-volant; while true; do sleep 3600; done"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := w.waitPod("hello", "running", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	t.Logf("FIGURE pod create -> Running (cold boot, TCG): %s", time.Since(t0).Round(time.Millisecond))
	sbs := w.podSandboxes()
	if len(sbs) != 1 {
		t.Fatalf("%d sandboxes for one pod: %+v", len(sbs), sbs)
	}
	sb := sbs[0]
	if want := podIP(sb); pod.Status.PodIP != want || want == "" {
		t.Errorf("pod IP %q, want the sandbox's %q", pod.Status.PodIP, want)
	}
	if sb.Labels[LabelUID] != string(pod.UID) {
		t.Errorf("sandbox labels %v do not name the pod's UID %s", sb.Labels, pod.UID)
	}

	// exec through the API server's exec subresource runs in the guest.
	res, err := w.vol.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"uname", "-r"}})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(string(res.Stdout))
	stdout, stderr, err := w.kubectlExec("hello", false, "uname", "-r")
	if err != nil {
		t.Fatalf("exec: %v (stderr %q)", err, stderr)
	}
	if got := strings.TrimSpace(stdout); got != want || want == "" {
		t.Errorf("kubectl exec uname -r = %q, want the guest's %q", got, want)
	}
	stdout, _, err = w.kubectlExec("hello", true, "tty")
	if err != nil || !strings.Contains(stdout, "/dev/pts/") {
		t.Errorf("exec with a TTY: %q, %v; want a /dev/pts terminal", stdout, err)
	}
	_, _, err = w.kubectlExec("hello", false, "sh", "-c", "exit 3")
	var ce interface{ ExitStatus() int }
	if !errors.As(err, &ce) || ce.ExitStatus() != 3 {
		t.Errorf("exec of exit 3: %v; want exit status 3", err)
	}

	// Logs stream: the workload's output, and what it writes later.
	lctx, lcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer lcancel()
	rc, err := kube.CoreV1().Pods("default").GetLogs("hello", &corev1.PodLogOptions{Follow: true}).Stream(lctx)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(rc)
	if !sc.Scan() || sc.Text() != "hello-from-volant" {
		t.Errorf("first log line %q (%v), want hello-from-volant", sc.Text(), sc.Err())
	}
	// A line the workload writes later (through its own stdout, the
	// pipe to the agent's log ring) arrives on the followed stream.
	wl, err := w.vol.Workload(ctx, sb.ID, workloadName, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.vol.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"sh", "-c", fmt.Sprintf("echo later-line > /proc/%d/fd/1", wl.PID)}}); err != nil {
		t.Fatal(err)
	}
	if !sc.Scan() || sc.Text() != "later-line" {
		t.Errorf("followed log line %q (%v), want later-line", sc.Text(), sc.Err())
	}
	rc.Close()

	// A provider restart keeps the Pod Running on the same sandbox.
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	k = w.startKubelet()
	k8stest.WaitFor(t, ctx, "restarted provider has the pod", 5*time.Minute, func() (bool, string) {
		p, err := k.p.GetPod(ctx, "default", "hello")
		if err != nil {
			return false, err.Error()
		}
		return p.Spec.Containers[0].Image != "", "the provider still holds a stub of the pod"
	})
	pod = w.waitPod("hello", "running after the restart", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if sbs := w.podSandboxes(); len(sbs) != 1 || sbs[0].ID != sb.ID {
		t.Errorf("after a provider restart the sandboxes are %+v, want only %s", sbs, sb.ID)
	}
	if pod.Status.PodIP != podIP(sb) {
		t.Errorf("after a restart pod IP %q, want %q", pod.Status.PodIP, podIP(sb))
	}

	// An OCI image that does not pull is ErrImagePull, not a hang (a
	// loopback address that refuses: the test reaches no other host).
	if _, err := kube.CoreV1().Pods("default").Create(ctx, testPodSpec("oci", "127.0.0.1:1/nothing:latest"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitPod("oci", "ErrImagePull", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == ReasonErrImagePull && cs[0].State.Waiting.Message != ""
	})
	// Two containers fail with a reason.
	two := testPodSpec("two", "volant.sh/runtime/default")
	two.Spec.Containers = append(two.Spec.Containers, corev1.Container{Name: "side", Image: "volant.sh/runtime/default"})
	if _, err := kube.CoreV1().Pods("default").Create(ctx, two, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitPod("two", "Failed", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodFailed && p.Status.Reason == ReasonUnsupported
	})

	// API objects per sandbox: the Pod and its events.
	evs, err := kube.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=hello"})
	if err == nil {
		var reasons []string
		for _, e := range evs.Items {
			reasons = append(reasons, e.Reason)
		}
		t.Logf("FIGURE API server objects for one sandbox: 1 Pod + %d Events %v (+ the node's Node and Lease, shared)", len(evs.Items), reasons)
	}

	// volantd going away makes the node NotReady; back, Ready.
	w.down.Store(true)
	w.waitNodeReady(corev1.ConditionFalse)
	w.down.Store(false)
	w.waitNodeReady(corev1.ConditionTrue)

	// Deleting the Pod deletes the sandbox, and the Pod object goes.
	for _, name := range []string{"hello", "oci", "two"} {
		if err := kube.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	k8stest.WaitFor(t, ctx, "pods and sandboxes gone", 5*time.Minute, func() (bool, string) {
		pods, err := kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		n := len(w.podSandboxes())
		return len(pods.Items) == 0 && n == 0, fmt.Sprintf("%d pods, %d sandboxes", len(pods.Items), n)
	})
}

func (w *world) waitNodeReady(want corev1.ConditionStatus) {
	w.t.Helper()
	k8stest.WaitFor(w.t, context.Background(), "node Ready="+string(want), 2*time.Minute, func() (bool, string) {
		n, err := w.cluster.Client.CoreV1().Nodes().Get(context.Background(), testNode, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == want, fmt.Sprintf("%s %s %s", c.Status, c.Reason, c.Message)
			}
		}
		return false, "no Ready condition"
	})
}

// kubectlExec runs cmd in the Pod through the API server's exec
// subresource, as kubectl exec does.
func (w *world) kubectlExec(pod string, tty bool, cmd ...string) (string, string, error) {
	req := w.cluster.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "main", Command: cmd, Stdout: true, Stderr: !tty, TTY: tty}, scheme.ParameterCodec)
	exec, err := remotecommand.NewSPDYExecutor(w.cluster.Config, http.MethodPost, req.URL())
	if err != nil {
		return "", "", err
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := remotecommand.StreamOptions{Stdout: &stdout, Tty: tty}
	if !tty {
		opts.Stderr = &stderr
	}
	err = exec.StreamWithContext(ctx, opts)
	return stdout.String(), stderr.String(), err
}

// TestPodFigures measures Pod create -> Running, cold and from the warm
// pool, and 20 Pods at once. It boots many guests, so it runs only when
// asked: VOLANT_K8S_FIGURES=1.
func TestPodFigures(t *testing.T) {
	if os.Getenv("VOLANT_K8S_FIGURES") == "" {
		t.Skip("set VOLANT_K8S_FIGURES=1 to measure Pod start times (boots 20+ guests)")
	}
	w := newWorld(t, func(c *sandbox.Config) { c.Templates, c.WarmPool = true, 2 })
	w.startKubelet()
	ctx := context.Background()
	pods := w.cluster.Client.CoreV1().Pods("default")
	run := func(name string) (time.Duration, string) {
		t0 := time.Now()
		if _, err := pods.Create(ctx, testPodSpec(name, "volant.sh/runtime/default"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		w.waitPod(name, "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		d := time.Since(t0)
		sb, err := w.vol.GetSandbox(ctx, SandboxName(string(w.podUID(name))))
		if err != nil {
			t.Fatal(err)
		}
		return d, sb.Boot
	}
	// The first create boots cold and makes the template; later ones
	// restore from the warm pool once it is filled.
	for i := range 5 {
		name := fmt.Sprintf("seq-%d", i)
		d, boot := run(name)
		t.Logf("FIGURE pod %s create -> Running: %s (%s boot)", name, d.Round(time.Millisecond), boot)
		if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if boot == "restore" && i > 0 {
			break
		}
	}
	t0 := time.Now()
	const n = 20
	for i := range n {
		if _, err := pods.Create(ctx, testPodSpec(fmt.Sprintf("many-%d", i), "volant.sh/runtime/default"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	k8stest.WaitFor(t, ctx, "20 pods running", 60*time.Minute, func() (bool, string) {
		list, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, p := range list.Items {
			if strings.HasPrefix(p.Name, "many-") && p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == n, fmt.Sprintf("%d of %d running", running, n)
	})
	boots := map[string]int{}
	for _, sb := range w.podSandboxes() {
		boots[sb.Boot]++
	}
	t.Logf("FIGURE %d pods at once: all Running after %s (boots %v)", n, time.Since(t0).Round(time.Millisecond), boots)
}

func (w *world) podUID(name string) string {
	w.t.Helper()
	p, err := w.cluster.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return string(p.UID)
}
