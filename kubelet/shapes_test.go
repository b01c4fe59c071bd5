package kubelet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/volant-sh/volant/image/debian"
	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/internal/testguest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/test/k8s/k8stest"
)

// storeImages gives the test engine the OCI image store (the daemon's
// adapter, which the test cannot import).
type storeImages struct{ s *oci.Store }

func (a storeImages) RootFS(ctx context.Context, ref string) (sandbox.ImageRootFS, error) {
	r, err := a.s.RootFS(ctx, ref)
	if err != nil {
		return sandbox.ImageRootFS{}, err
	}
	return sandbox.ImageRootFS{Ref: r.Ref, Digest: r.Digest, Path: r.Path, Env: r.Env, WorkingDir: r.WorkingDir,
		User: r.User, Entrypoint: r.Entrypoint, Cmd: r.Cmd}, nil
}

// debianImages builds the built-in debian image into the shared test
// image store, from the same tarball cache as the daemon's tests, so a
// machine builds it once (about 3.5 minutes with mmdebstrap).
func debianImages(t *testing.T) sandbox.Images {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("image conversion needs root")
	}
	st, err := oci.Open(oci.Config{Dir: filepath.Join(testguest.CacheDir(), "images")})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if _, err := debian.Build(context.Background(), st, debian.Options{CacheDir: filepath.Join(testguest.CacheDir(), "debian")}); err != nil {
		t.Fatal(err)
	}
	t.Logf("debian image ready in %s", time.Since(t0).Round(time.Second))
	return storeImages{st}
}

// TestPodShapes runs, on one node, a Pod of the built-in Debian image
// with every volume kind the provider carries out, and the Pod that
// agent-sandbox's controller makes for a Sandbox.
func TestPodShapes(t *testing.T) {
	if testing.Short() {
		t.Skip("boots guests and a Kubernetes control plane")
	}
	testguest.Skip(t)
	if _, err := k8stest.BinDir(); err != nil {
		t.Skip(err)
	}
	images := debianImages(t)
	w := newWorld(t, func(c *sandbox.Config) { c.Images = images })
	ctx := context.Background()
	kube := w.cluster.Client
	ca, err := os.ReadFile(w.cluster.Config.TLSClientConfig.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"greeting": "hello from a configMap"}}
	if _, err := kube.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		Data: map[string][]byte{"password": []byte("s3cret")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.kubeletAddr = w.startKubelet().Addr().String()
	// Each subtest has the world on its own t.
	sub := func(t *testing.T) *world { c := *w; c.t = t; return &c }
	t.Run("debian", func(t *testing.T) { sub(t).debianPod(t, string(ca)) })
	t.Run("agent-sandbox", func(t *testing.T) { sub(t).agentSandboxPod(t) })
	t.Run("previous", func(t *testing.T) { sub(t).previousLogs(t) })
}

// debianPod: a Pod of image "debian" runs in the built-in Debian image,
// with an emptyDir, a configMap, a secret and the service account token
// at their mountPaths; exec, logs, attach and stats reach it.
func (w *world) debianPod(t *testing.T, ca string) {
	ctx := context.Background()
	kube := w.cluster.Client
	pod := testPodSpec("deb", "debian", "sh", "-c", "echo debian-up; exec sleep infinity")
	pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "settings", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
		{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "scratch", MountPath: "/scratch"}, {Name: "settings", MountPath: "/etc/settings"}, {Name: "creds", MountPath: "/etc/creds", ReadOnly: true},
	}
	t0 := time.Now()
	created, err := kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The API server's service account admission added the token volume.
	var tokenMount string
	for _, vm := range created.Spec.Containers[0].VolumeMounts {
		if strings.HasPrefix(vm.Name, "kube-api-access-") {
			tokenMount = vm.MountPath
		}
	}
	if tokenMount != "/var/run/secrets/kubernetes.io/serviceaccount" {
		t.Fatalf("the API server added no service account token mount: %+v", created.Spec.Containers[0].VolumeMounts)
	}
	got := w.waitPod("deb", "running", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	t.Logf("FIGURE debian pod create -> Running (cold boot, TCG): %s", time.Since(t0).Round(time.Millisecond))
	sb, err := w.vol.GetSandbox(ctx, SandboxName(string(got.UID)))
	if err != nil {
		t.Fatal(err)
	}
	if sb.Spec.Image != "debian" || sb.ImageDigest == "" {
		t.Errorf("sandbox image %q (%q), want the built-in debian image", sb.Spec.Image, sb.ImageDigest)
	}
	if want := podIP(sb); got.Status.PodIP != want || want == "" {
		t.Errorf("pod IP %q, want the sandbox's %q", got.Status.PodIP, want)
	}

	// exec through the API server's exec subresource runs in Debian.
	stdout, stderr, err := w.kubectlExec("deb", false, "cat", "/etc/debian_version")
	if err != nil {
		t.Fatalf("exec: %v (stderr %q)", err, stderr)
	}
	if v := strings.TrimSpace(stdout); !regexp.MustCompile(`^\d+\.\d+`).MatchString(v) {
		t.Errorf("cat /etc/debian_version = %q, want a Debian version", v)
	}

	// The volumes are at their mountPaths.
	checks := []struct{ cmd, want string }{
		{"test -d /scratch && touch /scratch/x && echo ok", "ok"},
		{"cat /etc/settings/greeting", "hello from a configMap"},
		{"cat /etc/creds/password", "s3cret"},
		{"cat " + tokenMount + "/namespace", "default"},
		{"cmp -s " + tokenMount + "/ca.crt /dev/stdin <<'EOF' && echo same\n" + ca + "EOF", "same"},
	}
	for _, c := range checks {
		out, errOut, err := w.kubectlExec("deb", false, "sh", "-c", c.cmd)
		if err != nil || strings.TrimSpace(out) != c.want {
			t.Errorf("%s: %q %q %v, want %q", c.cmd, out, errOut, err, c.want)
		}
	}
	// The token is the Pod's service account's, valid at the API server.
	tok, _, err := w.kubectlExec("deb", false, "cat", tokenMount+"/token")
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(w.cluster.Config)
	cfg.BearerToken = strings.TrimSpace(tok)
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ssr, err := sa.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Errorf("the projected token does not authenticate: %v", err)
	} else if u := ssr.Status.UserInfo.Username; u != "system:serviceaccount:default:default" {
		t.Errorf("the projected token is %q's, want the pod's service account", u)
	}

	// Logs stream.
	lctx, lcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer lcancel()
	rc, err := kube.CoreV1().Pods("default").GetLogs("deb", &corev1.PodLogOptions{Follow: true}).Stream(lctx)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(rc)
	if !sc.Scan() || sc.Text() != "debian-up" {
		t.Errorf("first log line %q (%v), want debian-up", sc.Text(), sc.Err())
	}
	rc.Close()

	// attach streams what the command writes from now on; -i is refused
	// with the reason.
	wl, err := w.vol.Workload(ctx, sb.ID, workloadName, 0)
	if err != nil {
		t.Fatal(err)
	}
	attached := make(chan string, 1)
	actx, acancel := context.WithCancel(ctx)
	defer acancel()
	pr := &lineWriter{lines: attached}
	go func() { _ = w.kubectlAttach(actx, "deb", false, pr) }()
	// The attach may not be streaming yet when the line is written: write
	// until it arrives.
	k8stest.WaitFor(t, ctx, "attached output", 5*time.Minute, func() (bool, string) {
		if _, err := w.vol.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"sh", "-c", fmt.Sprintf("echo attached-line > /proc/%d/fd/1", wl.PID)}}); err != nil {
			return false, err.Error()
		}
		select {
		case l := <-attached:
			return l == "attached-line", "got " + l
		case <-time.After(3 * time.Second):
			return false, "nothing yet"
		}
	})
	acancel()
	err = w.kubectlAttach(ctx, "deb", true, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "not interactive") {
		t.Errorf("attach -i: %v; want a refusal saying the command is not interactive", err)
	}

	// /stats/summary has the Pod's measured sandbox. It is read with the
	// API server's kubelet client certificate: the API server's node proxy
	// does not dial a loopback node address.
	var sum statsv1alpha1.Summary
	k8stest.WaitFor(t, ctx, "pod stats", 2*time.Minute, func() (bool, string) {
		raw, err := w.kubeletGet(ctx, "/stats/summary")
		if err != nil {
			return false, err.Error()
		}
		if err := json.Unmarshal(raw, &sum); err != nil {
			return false, err.Error()
		}
		for _, ps := range sum.Pods {
			if ps.PodRef.Name == "deb" && ps.Memory != nil && ps.CPU != nil && ps.CPU.UsageNanoCores != nil {
				return *ps.Memory.WorkingSetBytes > 0 && *ps.CPU.UsageCoreNanoSeconds > 0, fmt.Sprintf("%+v", ps)
			}
		}
		return false, string(raw)
	})
	if raw, err := w.kubeletGet(ctx, "/metrics/resource"); err != nil || !bytes.Contains(raw, []byte(`pod_memory_working_set_bytes{namespace="default",pod="deb"}`)) {
		t.Errorf("/metrics/resource: %v\n%s", err, raw)
	}

	if err := kube.CoreV1().Pods("default").Delete(ctx, "deb", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitGone("deb")
}

// lineWriter sends each line written to it.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case l.lines <- string(l.buf[:i]):
		default:
		}
		l.buf = l.buf[i+1:]
	}
}

// kubectlAttach attaches to the Pod's container through the API server's
// attach subresource, as kubectl attach does.
func (w *world) kubectlAttach(ctx context.Context, pod string, stdin bool, out io.Writer) error {
	req := w.cluster.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(pod).SubResource("attach").
		VersionedParams(&corev1.PodAttachOptions{Container: "main", Stdin: stdin, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	exec, err := remotecommand.NewSPDYExecutor(w.cluster.Config, http.MethodPost, req.URL())
	if err != nil {
		return err
	}
	opts := remotecommand.StreamOptions{Stdout: out, Stderr: out}
	if stdin {
		// Open, as a user's terminal is: an empty reader ends stdin at
		// once, and the server may take that for the client going away
		// before it sends its refusal (a flake seen once in CI).
		r, w := io.Pipe()
		defer w.Close()
		opts.Stdin = r
		// A server that took it would stream until the context ends.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	return exec.StreamWithContext(ctx, opts)
}

// waitGone waits until the Pod and its sandbox are gone.
func (w *world) waitGone(name string) {
	w.t.Helper()
	ctx := context.Background()
	k8stest.WaitFor(w.t, ctx, "pod "+name+" and its sandbox gone", 5*time.Minute, func() (bool, string) {
		_, err := w.cluster.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		n := 0
		for _, sb := range w.podSandboxes() {
			if sb.Labels[LabelPod] == name {
				n++
			}
		}
		return err != nil && n == 0, fmt.Sprintf("pod err %v, %d sandboxes", err, n)
	})
}

// nameHash is agent-sandbox's FNV-1a name hash (controllers.NameHash): the
// value of its agents.x-k8s.io/sandbox-name-hash label.
func nameHash(name string) string { return fmt.Sprintf("%08x", fnv32(name)) }

// agentSandboxShape is the Pod and headless Service agent-sandbox's
// controller makes for a Sandbox of a SandboxTemplate (read from
// kubernetes-sigs/agent-sandbox at 2fd412d, controllers/sandbox_controller.go
// reconcilePod and reconcileService, extensions/controllers/utils.go
// ApplySandboxSecureDefaults): named after the Sandbox, owned by it, the
// template's labels plus its name-hash label, the service account token
// not mounted, DNS set to public resolvers, and the template's node
// selector and toleration. pool, if set, is the SandboxWarmPool whose
// Sandbox it is.
func agentSandboxShape(name, pool, template string) (*corev1.Pod, *corev1.Service) {
	hash := nameHash(name)
	owner := metav1.OwnerReference{APIVersion: "agents.x-k8s.io/v1beta1", Kind: "Sandbox", Name: name,
		UID: types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012x", fnv32(name))), Controller: ptr(true), BlockOwnerDeletion: ptr(true)}
	labels := map[string]string{"app": "agent", "agents.x-k8s.io/sandbox-name-hash": hash}
	if pool != "" {
		labels["agents.x-k8s.io/warm-pool-sandbox"] = nameHash(pool)
		labels["agents.x-k8s.io/sandbox-template-ref-hash"] = nameHash(template)
	}
	pod := testPodSpec(name, "volant.sh/runtime/default", "sh", "-c", "echo sandbox-up; exec sleep infinity")
	pod.Labels = labels
	pod.Annotations = map[string]string{"agents.x-k8s.io/propagated-labels": "app"}
	pod.OwnerReferences = []metav1.OwnerReference{owner}
	pod.Spec.AutomountServiceAccountToken = ptr(false)
	pod.Spec.DNSPolicy = corev1.DNSNone
	pod.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"8.8.8.8", "1.1.1.1"}}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"agents.x-k8s.io/sandbox-name-hash": hash},
			OwnerReferences: []metav1.OwnerReference{owner}},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"agents.x-k8s.io/sandbox-name-hash": hash}},
	}
	return pod, svc
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

func ptr[T any](v T) *T { return &v }

// agentSandboxPod: the Pods agent-sandbox's controller makes, for a
// Sandbox and for a SandboxWarmPool's Sandbox, run as Volant sandboxes;
// the claim's relabelling of the warm Pod keeps the same sandbox. The
// controller itself does not run here (its module is not on the Go
// module proxy): this checks the provider against the shape it makes.
func (w *world) agentSandboxPod(t *testing.T) {
	ctx := context.Background()
	kube := w.cluster.Client
	for _, c := range []struct{ name, pool string }{{"agent-1", ""}, {"warm-abc12", "volant-pool"}} {
		pod, svc := agentSandboxShape(c.name, c.pool, "volant-default")
		if _, err := kube.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"agent-1", "warm-abc12"} {
		p := w.waitPod(name, "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" })
		// The headless Service selects the Pod (its endpoints come from the
		// controller manager, which does not run here).
		list, err := kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "agents.x-k8s.io/sandbox-name-hash=" + nameHash(name)})
		if err != nil || len(list.Items) != 1 || list.Items[0].UID != p.UID {
			t.Errorf("the Service's selector finds %d pods (%v), want %s", len(list.Items), err, name)
		}
		if out, _, err := w.kubectlExec(name, false, "cat", "/proc/sys/kernel/hostname"); err != nil || strings.TrimSpace(out) == "" {
			t.Errorf("exec in %s: %q %v", name, out, err)
		}
	}
	warm, err := kube.CoreV1().Pods("default").Get(ctx, "warm-abc12", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before, err := w.vol.GetSandbox(ctx, SandboxName(string(warm.UID)))
	if err != nil {
		t.Fatal(err)
	}
	// A SandboxClaim adopts the warm Sandbox: the controller drops the
	// pool's labels from the Pod. The sandbox stays.
	delete(warm.Labels, "agents.x-k8s.io/warm-pool-sandbox")
	warm.Labels["agents.x-k8s.io/claim-uid"] = "11111111-2222-4333-8444-555555555555"
	if _, err := kube.CoreV1().Pods("default").Update(ctx, warm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	k8stest.WaitFor(t, ctx, "the claimed pod's update reaches the provider", 2*time.Minute, func() (bool, string) {
		p, err := w.cluster.Client.CoreV1().Pods("default").Get(ctx, "warm-abc12", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Status.Phase == corev1.PodRunning, string(p.Status.Phase)
	})
	if after, err := w.vol.GetSandbox(ctx, before.ID); err != nil || after.State != sandbox.StateRunning {
		t.Errorf("the claimed pod's sandbox %s: %+v %v, want it running still", before.ID, after, err)
	}
	n := 0
	for _, sb := range w.podSandboxes() {
		if l := sb.Labels[LabelPod]; l == "agent-1" || l == "warm-abc12" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d sandboxes for the two agent-sandbox pods", n)
	}
	evs, err := kube.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=agent-1"})
	if err == nil {
		var reasons []string
		for _, e := range evs.Items {
			reasons = append(reasons, e.Reason)
		}
		t.Logf("FIGURE API server objects for one agent-sandbox sandbox: 1 Pod + 1 Service + %d Events %v (+ the Sandbox; with a claim, the SandboxClaim)", len(evs.Items), reasons)
	}
	for _, name := range []string{"agent-1", "warm-abc12"} {
		if err := kube.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		w.waitGone(name)
	}
}

// kubeletGet reads a path of the provider's kubelet API as the API server
// does, with its kubelet client certificate.
func (w *world) kubeletGet(ctx context.Context, path string) ([]byte, error) {
	cert, err := tls.LoadX509KeyPair(w.cluster.KubeletClientCert, w.cluster.KubeletClientKey)
	if err != nil {
		return nil, err
	}
	// The serving certificate is the provider's self-signed one.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+w.kubeletAddr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, b)
	}
	return b, err
}

// previousLogs: kubectl logs --previous answers the run before the
// container's last restart.
func (w *world) previousLogs(t *testing.T) {
	ctx := context.Background()
	pods := w.cluster.Client.CoreV1().Pods("default")
	// The first run fails; the second stays.
	pod := testPodSpec("again", "volant.sh/runtime/default", "sh", "-c",
		"n=$(cat /tmp/runs 2>/dev/null || echo 0); echo run-$n; echo $((n+1)) > /tmp/runs; [ $n -ge 1 ] && exec sleep infinity; exit 3")
	pod.Spec.AutomountServiceAccountToken = ptr(false)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitPod("again", "restarted and running", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return p.Status.Phase == corev1.PodRunning && len(cs) == 1 && cs[0].RestartCount == 1 && cs[0].State.Running != nil
	})
	prev, err := pods.GetLogs("again", &corev1.PodLogOptions{Previous: true}).DoRaw(ctx)
	if err != nil || string(prev) != "run-0\n" {
		t.Errorf("logs --previous = %q, %v; want run-0", prev, err)
	}
	cur, err := pods.GetLogs("again", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil || !strings.Contains(string(cur), "run-1") {
		t.Errorf("logs = %q, %v; want run-1 in it", cur, err)
	}
	if err := pods.Delete(ctx, "again", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitGone("again")
}
