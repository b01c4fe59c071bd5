package kubelet

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/volant-sh/volant/sandbox"
)

// The node's labels and taint.
const (
	LabelHost   = "volant.sh/host"
	TaintKey    = "virtual-kubelet.io/provider"
	TaintValue  = "volant"
	ProviderTag = "volant"
)

// maxPods bounds the Pods the scheduler places on the node; the real
// bound is the CPU and memory budget.
const maxPods = 1000

// nodeSpec is the Node this host registers as: labels, the taint, its
// addresses and the kubelet port the API server calls for logs and exec.
func nodeSpec(name, hostname, ip string, port int32, version string) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"type":                   "virtual-kubelet",
				"kubernetes.io/role":     "agent",
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				LabelHost:                hostname,
			},
		},
		Spec: corev1.NodeSpec{
			Taints: []corev1.Taint{{Key: TaintKey, Value: TaintValue, Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Phase: corev1.NodeRunning,
			NodeInfo: corev1.NodeSystemInfo{
				OperatingSystem:         "linux",
				Architecture:            "amd64",
				KubeletVersion:          "volant-" + version,
				ContainerRuntimeVersion: "volant://" + version,
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: port}},
		},
	}
	if ip != "" {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: hostname})
	return n
}

// setResources sets the node's capacity from the engine's admission
// budget. Allocatable is the same: the scheduler subtracts the requests
// of the Pods it placed, and the engine refuses a sandbox over its budget.
func setResources(n *corev1.Node, c sandbox.Capacity) {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(c.VCPUs), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(c.MemoryMiB)<<20, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	n.Status.Capacity = rl
	n.Status.Allocatable = rl.DeepCopy()
}

// setConditions sets the node's conditions: Ready when volantd answers,
// NotReady with why when it does not.
func setConditions(n *corev1.Node, engineErr error, now time.Time) {
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "volantd answers"}
	if engineErr != nil {
		ready.Status, ready.Reason = corev1.ConditionFalse, "VolantdUnreachable"
		ready.Message = fmt.Sprintf("volantd does not answer: %v", engineErr)
	}
	conds := []corev1.NodeCondition{
		ready,
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID"},
		{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "RouteCreated"},
	}
	prev := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range n.Status.Conditions {
		prev[c.Type] = c
	}
	for i := range conds {
		conds[i].LastHeartbeatTime = metav1.NewTime(now)
		conds[i].LastTransitionTime = metav1.NewTime(now)
		if p, ok := prev[conds[i].Type]; ok && p.Status == conds[i].Status {
			conds[i].LastTransitionTime = p.LastTransitionTime
		}
	}
	n.Status.Conditions = conds
}

// nodeStatus is the node half of the provider (node.NodeProvider): it
// reads the engine every interval and tells virtual-kubelet the node's
// readiness and capacity when they change.
type nodeStatus struct {
	p        *provider
	interval time.Duration

	mu   sync.Mutex
	node *corev1.Node
	cb   func(*corev1.Node)
	// lastErr is the last health check's failure, for change detection.
	lastErr string
}

// Ping answers whether this provider is alive. It is: a volantd that
// does not answer makes the node NotReady through its status instead,
// which says why, while the node's lease shows the provider itself lives.
func (s *nodeStatus) Ping(ctx context.Context) error { return nil }

// NotifyNodeStatus registers virtual-kubelet's node status callback.
func (s *nodeStatus) NotifyNodeStatus(ctx context.Context, cb func(*corev1.Node)) {
	s.mu.Lock()
	s.cb = cb
	s.mu.Unlock()
}

// check reads the engine once and updates the node; it reports whether
// something the scheduler sees changed.
func (s *nodeStatus) check(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	info, err := s.p.vol.System(cctx)
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	errText := ""
	if err != nil {
		errText = err.Error()
	}
	changed := errText != s.lastErr
	s.lastErr = errText
	if err == nil {
		before := s.node.Status.Capacity.DeepCopy()
		setResources(s.node, info.Capacity)
		s.p.setCapacity(info.Capacity)
		for k, v := range s.node.Status.Capacity {
			if b, ok := before[k]; !ok || b.Cmp(v) != 0 {
				changed = true
			}
		}
	}
	setConditions(s.node, err, time.Now())
	return changed
}

// run checks the engine every interval until ctx ends.
func (s *nodeStatus) run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.check(ctx) {
			continue
		}
		s.mu.Lock()
		cb, n := s.cb, s.node.DeepCopy()
		s.mu.Unlock()
		if cb != nil {
			s.p.log.Info("node status changed", "ready", n.Status.Conditions[0].Status, "reason", n.Status.Conditions[0].Reason)
			cb(n)
		}
	}
}
