package kubelet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"

	"github.com/volant-sh/volant/test/k8s/k8stest"
)

// The real agent-sandbox controller over this provider. Its Go module
// (sigs.k8s.io/agent-sandbox) is not served by the Go module proxy here,
// so make test cannot fetch it and this test is opt-in: point
// VOLANT_AGENT_SANDBOX_SRC at a checkout of kubernetes-sigs/agent-sandbox
// (its dependencies do come from the proxy) and build kube-scheduler
// with scripts/k8s-bins.sh --scheduler. The controller, its CRDs and the
// scheduler run unmodified; only the CRDs' conversion webhook is switched
// off (no webhook server runs, and only v1beta1 objects are used), and
// the test removes the node's not-ready taint as a controller manager
// would.
//
//	VOLANT_AGENT_SANDBOX_SRC=/path/to/agent-sandbox \
//	KUBEBUILDER_ASSETS=$(scripts/k8s-bins.sh --scheduler) \
//	go test -run TestAgentSandboxController -v ./kubelet/
func TestAgentSandboxController(t *testing.T) {
	src := os.Getenv("VOLANT_AGENT_SANDBOX_SRC")
	if src == "" {
		t.Skip("set VOLANT_AGENT_SANDBOX_SRC to a checkout of kubernetes-sigs/agent-sandbox: its Go module is not on the module proxy here, so the test cannot fetch it")
	}
	if testing.Short() {
		t.Skip("runs a Kubernetes control plane and guests")
	}
	bins, err := k8stest.BinDir()
	if err != nil {
		t.Skip(err.Error())
	}
	sched := filepath.Join(bins, "kube-scheduler")
	if _, err := os.Stat(sched); err != nil {
		t.Skip("no kube-scheduler beside the API server: run scripts/k8s-bins.sh --scheduler")
	}
	ctrl := filepath.Join(t.TempDir(), "agent-sandbox-controller")
	build := exec.Command("go", "build", "-o", ctrl, "./cmd/agent-sandbox-controller")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building agent-sandbox's controller in %s: %v\n%s", src, err, out)
	}

	w := newWorld(t, nil)
	w.startKubelet()
	w.waitNodeReady(corev1.ConditionTrue)
	w.untaintReady()
	dyn, err := dynamic.NewForConfig(w.cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	applyCRDs(t, dyn, filepath.Join(src, "k8s", "crds"))
	kc := "--kubeconfig=" + w.cluster.Kubeconfig
	w.cluster.StartBinary(t, "kube-scheduler", sched, kc, "--leader-elect=false", "--secure-port=0")
	w.cluster.StartBinary(t, "agent-sandbox-controller", ctrl, kc, "--leader-elect=false",
		"--enable-webhook=false", "--extensions", "--metrics-bind-address=0", "--health-probe-bind-address=0")

	ctx := context.Background()
	podSpec := map[string]any{
		"nodeSelector": map[string]any{"type": "virtual-kubelet"},
		"tolerations": []any{map[string]any{"key": "virtual-kubelet.io/provider", "operator": "Equal",
			"value": "volant", "effect": "NoSchedule"}},
		"containers": []any{map[string]any{"name": "main", "image": "volant.sh/runtime/default",
			"command": []any{"sh", "-c", "echo sandbox-up; exec sleep infinity"}}},
	}

	t.Run("sandbox", func(t *testing.T) {
		sb := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "agents.x-k8s.io/v1beta1", "kind": "Sandbox",
			"metadata": map[string]any{"name": "agent-direct", "namespace": "default"},
			"spec":     map[string]any{"podTemplate": map[string]any{"spec": podSpec}},
		}}
		res := schema.GroupVersionResource{Group: "agents.x-k8s.io", Version: "v1beta1", Resource: "sandboxes"}
		start := time.Now()
		if _, err := dyn.Resource(res).Namespace("default").Create(ctx, sb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := w.waitPod("agent-direct", "running on the Volant node", func(p *corev1.Pod) bool {
			return p.Spec.NodeName == testNode && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != ""
		})
		if out, _, err := w.kubectlExec(p.Name, false, "cat", "/proc/sys/kernel/hostname"); err != nil || strings.TrimSpace(out) == "" {
			t.Errorf("exec in the Sandbox's pod: %q %v", out, err)
		}
		waitCondition(t, dyn, res, "agent-direct", "Ready")
		t.Logf("FIGURE agent-sandbox Sandbox create -> Ready (cold, scheduled by kube-scheduler): %s", time.Since(start).Round(time.Millisecond))
		if n := w.sandboxesOf(p.Name); n != 1 {
			t.Errorf("%d Volant sandboxes for the Sandbox's pod, want 1", n)
		}
	})

	t.Run("warm-pool-claim", func(t *testing.T) {
		ext := func(r string) schema.GroupVersionResource {
			return schema.GroupVersionResource{Group: "extensions.agents.x-k8s.io", Version: "v1beta1", Resource: r}
		}
		objs := []struct {
			res schema.GroupVersionResource
			obj map[string]any
		}{
			{ext("sandboxtemplates"), map[string]any{"kind": "SandboxTemplate",
				"metadata": map[string]any{"name": "volant-default"},
				"spec": map[string]any{"networkPolicyManagement": "Unmanaged",
					"podTemplate": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "agent"}}, "spec": podSpec}}}},
			{ext("sandboxwarmpools"), map[string]any{"kind": "SandboxWarmPool",
				"metadata": map[string]any{"name": "volant-pool"},
				"spec":     map[string]any{"replicas": int64(1), "sandboxTemplateRef": map[string]any{"name": "volant-default"}}}},
		}
		for _, o := range objs {
			o.obj["apiVersion"] = "extensions.agents.x-k8s.io/v1beta1"
			o.obj["metadata"].(map[string]any)["namespace"] = "default"
			if _, err := dyn.Resource(o.res).Namespace("default").Create(ctx, &unstructured.Unstructured{Object: o.obj}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		// The pool's Sandbox gets a Pod on the node before any claim.
		var warm *corev1.Pod
		k8stest.WaitFor(t, ctx, "the warm pool's pod running", 10*time.Minute, func() (bool, string) {
			list, err := w.cluster.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "agents.x-k8s.io/warm-pool-sandbox"})
			if err != nil {
				return false, err.Error()
			}
			for i := range list.Items {
				if p := &list.Items[i]; p.Status.Phase == corev1.PodRunning && p.Spec.NodeName == testNode {
					warm = p
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d warm pods", len(list.Items))
		})
		before := w.sandboxesOf(warm.Name)
		claim := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxClaim",
			"metadata": map[string]any{"name": "alice", "namespace": "default"},
			"spec":     map[string]any{"warmPoolRef": map[string]any{"name": "volant-pool"}},
		}}
		start := time.Now()
		if _, err := dyn.Resource(ext("sandboxclaims")).Namespace("default").Create(ctx, claim, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitCondition(t, dyn, ext("sandboxclaims"), "alice", "Ready")
		t.Logf("FIGURE agent-sandbox SandboxClaim from a warm pool -> Ready: %s", time.Since(start).Round(time.Millisecond))
		// The claim took the warm Sandbox: its Pod (and Volant sandbox) is
		// the one that was running, not a new one.
		p, err := w.cluster.Client.CoreV1().Pods("default").Get(ctx, warm.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the warm pod after the claim: %v", err)
		}
		if p.UID != warm.UID || p.Status.Phase != corev1.PodRunning {
			t.Errorf("after the claim the warm pod is %s %s, want %s running", p.UID, p.Status.Phase, warm.UID)
		}
		if before != 1 || w.sandboxesOf(warm.Name) != 1 {
			t.Errorf("Volant sandboxes for the warm pod: %d before the claim, %d after, want 1 and 1", before, w.sandboxesOf(warm.Name))
		}
		t.Logf("claimed pod %s labels %v", p.Name, p.Labels)
	})
}

// untaintReady removes the node.kubernetes.io/not-ready taint the API
// server puts on a new node, as the controller manager's node lifecycle
// controller does once the node is Ready (no controller manager runs here:
// building it needs modules the tools module does not pin).
func (w *world) untaintReady() {
	w.t.Helper()
	ctx := context.Background()
	k8stest.WaitFor(w.t, ctx, "the not-ready taint removed", 2*time.Minute, func() (bool, string) {
		n, err := w.cluster.Client.CoreV1().Nodes().Get(ctx, testNode, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		var keep []corev1.Taint
		for _, tn := range n.Spec.Taints {
			if tn.Key != corev1.TaintNodeNotReady {
				keep = append(keep, tn)
			}
		}
		if len(keep) == len(n.Spec.Taints) {
			return true, ""
		}
		n.Spec.Taints = keep
		_, err = w.cluster.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err == nil, fmt.Sprint(err)
	})
}

// sandboxesOf counts the engine's sandboxes of the Pod name.
func (w *world) sandboxesOf(pod string) int {
	n := 0
	for _, sb := range w.podSandboxes() {
		if sb.Labels[LabelPod] == pod {
			n++
		}
	}
	return n
}

// applyCRDs creates every CustomResourceDefinition in dir's YAML files,
// with the conversion webhook switched off, and waits until each is
// established.
func applyCRDs(t *testing.T, dyn dynamic.Interface, dir string) {
	t.Helper()
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s: %v", dir, err)
	}
	ctx := context.Background()
	var names []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(fh, 64<<10)
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); err != nil {
				break
			}
			if obj == nil {
				continue
			}
			u := &unstructured.Unstructured{Object: obj}
			if spec, ok := obj["spec"].(map[string]any); ok {
				spec["conversion"] = map[string]any{"strategy": "None"}
			}
			if _, err := dyn.Resource(crds).Create(ctx, u, metav1.CreateOptions{}); err != nil {
				t.Fatalf("creating the CRD of %s: %v", f, err)
			}
			names = append(names, u.GetName())
		}
		fh.Close()
	}
	for _, name := range names {
		waitCondition(t, dyn, crds, name, "Established")
	}
}

// waitCondition waits until the object's status has condition cond True.
func waitCondition(t *testing.T, dyn dynamic.Interface, res schema.GroupVersionResource, name, cond string) {
	t.Helper()
	ctx := context.Background()
	k8stest.WaitFor(t, ctx, res.Resource+"/"+name+" "+cond, 10*time.Minute, func() (bool, string) {
		r := dyn.Resource(res)
		var u *unstructured.Unstructured
		var err error
		if res.Resource == "customresourcedefinitions" {
			u, err = r.Get(ctx, name, metav1.GetOptions{})
		} else {
			u, err = r.Namespace("default").Get(ctx, name, metav1.GetOptions{})
		}
		if err != nil {
			return false, err.Error()
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == cond {
				return m["status"] == "True", fmt.Sprintf("%v %v %v", m["status"], m["reason"], m["message"])
			}
		}
		return false, fmt.Sprintf("no %s condition in %v", cond, conds)
	})
}
