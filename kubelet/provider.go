package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	vkerrdefs "github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// provider maps the Pods of one node to sandboxes of one volantd. It
// implements virtual-kubelet's pod lifecycle (node.PodLifecycleHandler and
// node.PodNotifier) and the kubelet API's streams (streams.go).
type provider struct {
	vol *apiclient.Client
	// kube reads the ConfigMaps and Secrets of volumes and requests
	// service account tokens.
	kube     kubernetes.Interface
	nodeName string
	hostIP   string
	log      *slog.Logger
	recorder record.EventRecorder
	poll     time.Duration

	// life ends the provider's goroutines (creates, the event and poll
	// loops); wg waits for them.
	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// pods are the Pods this node runs, by namespace/name.
	pods map[string]*podState
	// notify tells virtual-kubelet a Pod's status changed.
	notify   func(*corev1.Pod)
	capacity sandbox.Capacity
	// lister is virtual-kubelet's cache of this node's Pods.
	lister corev1listers.PodLister
	// cpu is each measured sandbox's last CPU time, for the rate.
	cpu map[string]cpuSample
	// started is when the provider started (the node's stats start).
	started time.Time
}

// podState is one Pod and what the provider knows of its sandbox.
type podState struct {
	pod *corev1.Pod
	obs observed
	// creating is closed when the create of the sandbox ended; stop
	// cancels it.
	creating chan struct{}
	stop     context.CancelFunc
	// keepStop ends the refresh of the Pod's service account tokens.
	keepStop context.CancelFunc
}

func podKey(namespace, name string) string { return namespace + "/" + name }

func newProvider(vol *apiclient.Client, nodeName, hostIP string, log *slog.Logger, rec record.EventRecorder, poll time.Duration) *provider {
	life, cancel := context.WithCancel(context.Background())
	return &provider{vol: vol, nodeName: nodeName, hostIP: hostIP, log: log, recorder: rec, poll: poll,
		life: life, cancel: cancel, pods: map[string]*podState{}, cpu: map[string]cpuSample{}, started: time.Now()}
}

// close ends the provider's goroutines and waits for them. Sandboxes are
// left running: a restarted provider adopts them.
func (p *provider) close() {
	p.cancel()
	p.wg.Wait()
}

func (p *provider) goBackground(f func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
}

// CreatePod creates the Pod's sandbox. It answers at once: the sandbox
// boots in the background and the Pod's status follows (Pending, then
// Running or Failed with a reason). A Pod that cannot run here is not an
// error to retry but a status with its reason.
func (p *provider) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	key := podKey(pod.Namespace, pod.Name)
	capacity := p.hostCapacity(ctx)
	pl, ref := planPod(pod, capacity, p.nodeName)
	st := &podState{pod: pod.DeepCopy(), obs: observed{Refused: ref}}
	if pl != nil {
		st.obs.HasWorkload = pl.Workload != nil
	}
	p.mu.Lock()
	if old, ok := p.pods[key]; ok && old.pod.UID == pod.UID {
		p.mu.Unlock()
		return nil
	}
	p.pods[key] = st
	p.mu.Unlock()
	if ref != nil {
		p.log.Info("refusing pod", "pod", key, "reason", ref.Reason, "message", ref.Message)
		p.event(pod, corev1.EventTypeWarning, ref.Reason, ref.Message)
		p.publish(key)
		return nil
	}
	for _, w := range pl.Warnings {
		p.event(pod, corev1.EventTypeWarning, "VolantIgnored", w)
	}
	p.publish(key)
	cctx, stop := context.WithCancel(p.life)
	st.creating, st.stop = make(chan struct{}), stop
	p.goBackground(func() {
		defer close(st.creating)
		defer stop()
		p.create(cctx, key, st, pl)
	})
	return nil
}

// create makes the sandbox of a planned Pod and starts its container's
// workload.
func (p *provider) create(ctx context.Context, key string, st *podState, pl *plan) {
	t0 := time.Now()
	var sb *sandbox.Sandbox
	var err error
	// A volantd that does not answer is waited for, not a failed Pod:
	// the Pod stays Pending and the node NotReady until it is back. The
	// name is the Pod's, so a create that did reach the engine is found
	// again instead of made twice.
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		sb, err = p.vol.CreateSandbox(ctx, pl.Spec)
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			sb, err = p.vol.GetSandbox(ctx, pl.Spec.Name)
		}
		var te *apiclient.TransportError
		if !errors.As(err, &te) {
			break
		}
		p.log.Warn("volantd does not answer; the pod's create waits", "pod", key, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	// A sandbox found again may still be booting.
	for err == nil && sb.State == sandbox.StateCreating {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		sb, err = p.vol.GetSandbox(ctx, sb.ID)
	}
	if err == nil && sb.State != sandbox.StateRunning {
		err = refuse("SandboxFailed", "the sandbox is %s: %s", sb.State, sb.Reason)
	}
	if err == nil && len(pl.Mounts) > 0 {
		issued := time.Now()
		var expires time.Time
		if expires, err = p.mountVolumes(ctx, sb.ID, p.podOf(key), pl.Mounts); err != nil {
			err = &refusal{Phase: corev1.PodPending, Reason: ReasonFailedMount, Message: err.Error() + "; the pod must be made again once that is fixed"}
		} else if !expires.IsZero() {
			p.startTokenRefresh(key, st, sb.ID, pl.Mounts, issued, expires)
		}
	}
	if err == nil && pl.Workload != nil {
		_, err = p.vol.StartWorkload(ctx, sb.ID, workloadName, *pl.Workload)
		if err != nil {
			err = &refusal{Phase: corev1.PodFailed, Reason: "StartError", Message: "starting the container's command: " + err.Error()}
		}
	}
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		ref := createFailure(err)
		p.log.Warn("pod's sandbox not created", "pod", key, "reason", ref.Reason, "err", err)
		p.mu.Lock()
		st.obs.Refused = ref
		if sb != nil {
			st.obs.Sandbox = sb
		}
		p.mu.Unlock()
		p.event(st.pod, corev1.EventTypeWarning, ref.Reason, ref.Message)
		p.publish(key)
		return
	}
	p.log.Info("pod's sandbox created", "pod", key, "sandbox", sb.ID, "boot", sb.Boot, "took", time.Since(t0).Round(time.Millisecond))
	p.event(st.pod, corev1.EventTypeNormal, "Started", fmt.Sprintf("Volant sandbox %s is running (%s boot, %s)", sb.ID, sb.Boot, time.Since(t0).Round(time.Millisecond)))
	p.mu.Lock()
	st.obs.Sandbox = sb
	p.mu.Unlock()
	p.refresh(ctx, key)
}

// createFailure is the Pod's reason for an engine's refusal to create its
// sandbox.
func createFailure(err error) *refusal {
	var ref *refusal
	if errors.As(err, &ref) {
		return ref
	}
	msg := err.Error()
	switch {
	case errors.Is(err, errdefs.ErrInvalidArgument) && strings.Contains(msg, "runtime"),
		strings.HasPrefix(msg, "image "):
		// A runtime that does not exist, or an OCI image the engine could
		// not pull or convert, is an image that does not pull.
		return &refusal{Phase: corev1.PodPending, Reason: ReasonErrImagePull, Message: msg}
	case errors.Is(err, errdefs.ErrResourceExhausted) && strings.Contains(msg, "CPU"):
		return refuse(ReasonOutOfCPU, "%s", msg)
	case errors.Is(err, errdefs.ErrResourceExhausted):
		return refuse(ReasonOutOfMemory, "%s", msg)
	case errors.Is(err, errdefs.ErrInvalidArgument):
		return refuse(ReasonInvalid, "%s", msg)
	}
	return refuse("SandboxCreateFailed", "%s", msg)
}

// refresh reads the Pod's sandbox and workload from the engine and
// publishes its status.
func (p *provider) refresh(ctx context.Context, key string) {
	p.mu.Lock()
	st, ok := p.pods[key]
	var id string
	var hasWL bool
	if ok && st.obs.Sandbox != nil && st.obs.Refused == nil && !st.obs.Deleted {
		id, hasWL = st.obs.Sandbox.ID, st.obs.HasWorkload
	}
	p.mu.Unlock()
	if id == "" {
		return
	}
	sb, err := p.vol.GetSandbox(ctx, id)
	if errors.Is(err, errdefs.ErrNotFound) {
		sb = &sandbox.Sandbox{ID: id, State: sandbox.StateFailed, Reason: "the sandbox was deleted outside Kubernetes"}
	} else if err != nil {
		p.log.Debug("reading pod's sandbox", "pod", key, "err", err)
		return
	}
	var wl *sandbox.WorkloadStatus
	if hasWL && sb.State == sandbox.StateRunning {
		wl, err = p.vol.Workload(ctx, id, workloadName, 0)
		if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			p.log.Debug("reading pod's workload", "pod", key, "err", err)
			return
		}
	}
	p.mu.Lock()
	if st2, ok := p.pods[key]; ok && st2 == st && !st.obs.Deleted {
		st.obs.Sandbox, st.obs.Workload = sb, wl
	}
	p.mu.Unlock()
	p.publish(key)
}

// publish computes the Pod's status and tells virtual-kubelet when it
// changed.
func (p *provider) publish(key string) {
	p.mu.Lock()
	st, ok := p.pods[key]
	if !ok {
		p.mu.Unlock()
		return
	}
	status := podStatus(st.pod, st.obs, p.hostIP, time.Now())
	changed := !statusEqual(st.pod.Status, status)
	st.pod.Status = status
	pod := st.pod.DeepCopy()
	notify := p.notify
	p.mu.Unlock()
	if changed && notify != nil {
		notify(pod)
	}
}

// statusEqual compares what a status says, not when it was computed.
func statusEqual(a, b corev1.PodStatus) bool {
	strip := func(s corev1.PodStatus) corev1.PodStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastTransitionTime = metav1.Time{}
		}
		for i := range s.ContainerStatuses {
			if t := s.ContainerStatuses[i].State.Terminated; t != nil {
				t.FinishedAt = metav1.Time{}
			}
		}
		return s
	}
	return equality.Semantic.DeepEqual(strip(a), strip(b))
}

// UpdatePod takes a Pod's new metadata. A Pod of the same name with
// another UID is a new Pod: the old sandbox goes and a new one is made.
// Other changes (an image changed in place) are not carried out.
func (p *provider) UpdatePod(ctx context.Context, pod *corev1.Pod) error {
	key := podKey(pod.Namespace, pod.Name)
	p.mu.Lock()
	st, ok := p.pods[key]
	if !ok {
		p.mu.Unlock()
		return p.CreatePod(ctx, pod)
	}
	if st.pod.UID != pod.UID {
		old := st.pod.DeepCopy()
		p.mu.Unlock()
		if err := p.DeletePod(ctx, old); err != nil && !vkerrdefs.IsNotFound(err) {
			return err
		}
		return p.CreatePod(ctx, pod)
	}
	status := st.pod.Status
	st.pod = pod.DeepCopy()
	st.pod.Status = status
	var id string
	if st.obs.Sandbox != nil && st.obs.Refused == nil && st.keepStop == nil && st.creating == nil {
		id = st.obs.Sandbox.ID
	}
	p.mu.Unlock()
	if id != "" {
		// An adopted Pod (its real spec arrives here): its tokens are
		// written again at once, the provider does not know their age.
		if pl, _ := planPod(pod, sandbox.Capacity{}, p.nodeName); pl != nil && hasToken(pl.Mounts) {
			now := time.Now()
			p.startTokenRefresh(key, st, id, pl.Mounts, now, now)
		}
	}
	p.publish(key)
	return nil
}

// DeletePod deletes the Pod's sandbox (stopping a create in flight) and
// reports the Pod terminated.
func (p *provider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	key := podKey(pod.Namespace, pod.Name)
	p.mu.Lock()
	st, ok := p.pods[key]
	if ok && st.keepStop != nil {
		st.keepStop()
	}
	p.mu.Unlock()
	if ok && st.stop != nil {
		st.stop()
		select {
		case <-st.creating:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	name := SandboxName(string(pod.UID))
	if ok && st.obs.Sandbox != nil {
		name = st.obs.Sandbox.ID
	}
	err := p.vol.DeleteSandbox(ctx, name)
	if errors.Is(err, errdefs.ErrNotFound) {
		err = nil
		if !ok {
			return vkerrdefs.NotFoundf("pod %s is not known to this node", key)
		}
	}
	if err != nil {
		return fmt.Errorf("deleting the sandbox of pod %s: %w", key, err)
	}
	p.log.Info("pod's sandbox deleted", "pod", key, "sandbox", name)
	if !ok {
		return nil
	}
	p.mu.Lock()
	st.obs.Deleted = true
	p.mu.Unlock()
	p.publish(key)
	p.mu.Lock()
	if p.pods[key] == st {
		delete(p.pods, key)
	}
	p.mu.Unlock()
	return nil
}

// GetPod answers the Pod as this node runs it.
func (p *provider) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.pods[podKey(namespace, name)]
	if !ok {
		return nil, vkerrdefs.NotFoundf("pod %s/%s is not known to this node", namespace, name)
	}
	return st.pod.DeepCopy(), nil
}

// GetPodStatus answers the Pod's status.
func (p *provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods answers every Pod this node runs.
func (p *provider) GetPods(ctx context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(p.pods))
	for _, st := range p.pods {
		out = append(out, st.pod.DeepCopy())
	}
	return out, nil
}

// NotifyPods registers virtual-kubelet's status callback.
func (p *provider) NotifyPods(ctx context.Context, f func(*corev1.Pod)) {
	p.mu.Lock()
	p.notify = f
	p.mu.Unlock()
}

func (p *provider) event(pod *corev1.Pod, typ, reason, msg string) {
	if p.recorder != nil {
		p.recorder.Event(pod, typ, reason, msg)
	}
}

// hostCapacity is the engine's admission budget, read once and then
// kept current by the node's health loop.
func (p *provider) hostCapacity(ctx context.Context) sandbox.Capacity {
	p.mu.Lock()
	c := p.capacity
	p.mu.Unlock()
	if c.VCPUs > 0 {
		return c
	}
	if info, err := p.vol.System(ctx); err == nil {
		p.setCapacity(info.Capacity)
		return info.Capacity
	}
	return c
}

func (p *provider) setCapacity(c sandbox.Capacity) {
	p.mu.Lock()
	p.capacity = c
	p.mu.Unlock()
}
