package kubelet

import (
	"net/netip"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/volant-sh/volant/sandbox"
)

// observed is what the provider last saw of a Pod's sandbox.
type observed struct {
	// Sandbox is nil while the sandbox is being created (or was never
	// created because the Pod was refused).
	Sandbox *sandbox.Sandbox
	// Workload is the container's process; nil when the Pod has none or
	// its status could not be read.
	Workload *sandbox.WorkloadStatus
	// HasWorkload says the Pod's container has a command, so a missing
	// Workload means it is not known yet.
	HasWorkload bool
	// Refused is why the Pod cannot run, if it cannot.
	Refused *refusal
	// Deleted is set once the Pod's sandbox was deleted.
	Deleted bool
}

// podIP is the address part of a sandbox's "ip/prefix".
func podIP(sb *sandbox.Sandbox) string {
	if sb == nil || sb.IP == "" {
		return ""
	}
	if p, err := netip.ParsePrefix(sb.IP); err == nil {
		return p.Addr().String()
	}
	if a, err := netip.ParseAddr(sb.IP); err == nil {
		return a.String()
	}
	return ""
}

// podStatus is the status of pod given what was observed of its sandbox.
// hostIP is the node's address; now stamps transitions first seen now.
func podStatus(pod *corev1.Pod, o observed, hostIP string, now time.Time) corev1.PodStatus {
	st := corev1.PodStatus{HostIP: hostIP, QOSClass: qosOf(pod)}
	if hostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: hostIP}}
	}
	if pod.Status.StartTime != nil {
		st.StartTime = pod.Status.StartTime
	} else {
		t := metav1.NewTime(now)
		st.StartTime = &t
	}
	name, image := "", ""
	if len(pod.Spec.Containers) > 0 {
		name, image = pod.Spec.Containers[0].Name, pod.Spec.Containers[0].Image
	}
	cs := corev1.ContainerStatus{Name: name, Image: image, ImageID: image}
	setPhase := func(phase corev1.PodPhase, reason, msg string) {
		st.Phase, st.Reason, st.Message = phase, reason, msg
	}
	ready := false
	switch {
	case o.Deleted:
		setPhase(corev1.PodSucceeded, "", "the sandbox was deleted")
		cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: metav1.NewTime(now)}
	case o.Refused != nil:
		setPhase(o.Refused.Phase, o.Refused.Reason, o.Refused.Message)
		if o.Refused.Phase == corev1.PodPending {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: o.Refused.Reason, Message: o.Refused.Message}
		} else {
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: o.Refused.Reason, Message: o.Refused.Message}
		}
	case o.Sandbox == nil || o.Sandbox.State == sandbox.StateCreating:
		setPhase(corev1.PodPending, "", "")
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: "the Volant sandbox is being created"}
	default:
		sb := o.Sandbox
		st.PodIP = podIP(sb)
		if st.PodIP != "" {
			st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
		}
		cs.ContainerID = "volant://" + sb.ID
		started := metav1.NewTime(sb.CreatedAt)
		switch sb.State {
		case sandbox.StateRunning, sandbox.StatePaused:
			setPhase(corev1.PodRunning, "", "")
			ready = sb.State == sandbox.StateRunning
			if o.HasWorkload {
				ready = workloadInto(&cs, &st, o.Workload, pod.Spec.RestartPolicy) && ready
			} else {
				cs.State.Running = &corev1.ContainerStateRunning{StartedAt: started}
			}
			if sb.State == sandbox.StatePaused {
				st.Message = "the sandbox is paused"
			}
		case sandbox.StateFailed:
			setPhase(corev1.PodFailed, "SandboxFailed", sb.Reason)
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "SandboxFailed", Message: sb.Reason, StartedAt: started, FinishedAt: metav1.NewTime(sb.UpdatedAt)}
		case sandbox.StateStopped:
			setPhase(corev1.PodFailed, "SandboxStopped", "the sandbox was stopped outside Kubernetes")
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "SandboxStopped", StartedAt: started, FinishedAt: metav1.NewTime(sb.UpdatedAt)}
		default: // deleting
			setPhase(corev1.PodRunning, "", "the sandbox is being deleted")
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Deleting", StartedAt: started}
		}
	}
	cs.Ready = ready
	started := cs.State.Running != nil
	cs.Started = &started
	st.ContainerStatuses = []corev1.ContainerStatus{cs}
	st.Conditions = conditions(pod, st, ready, now)
	return st
}

// workloadInto fills the container status from its workload and answers
// whether the container is ready. A workload that ended moves the Pod to
// Succeeded or Failed when its restart policy will not run it again.
func workloadInto(cs *corev1.ContainerStatus, st *corev1.PodStatus, wl *sandbox.WorkloadStatus, policy corev1.RestartPolicy) bool {
	if wl == nil {
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: "the container's process is being started"}
		return false
	}
	cs.RestartCount = int32(wl.Restarts)
	startedAt := metav1.NewTime(wl.StartedAt)
	last := func() *corev1.ContainerStateTerminated {
		if wl.LastExitCode == nil {
			return nil
		}
		return &corev1.ContainerStateTerminated{ExitCode: int32(*wl.LastExitCode), Signal: 0, Reason: exitReason(*wl.LastExitCode), Message: wl.LastError, StartedAt: startedAt}
	}
	switch wl.State {
	case "ready", "starting":
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: startedAt}
		if t := last(); t != nil && wl.Restarts > 0 {
			cs.LastTerminationState.Terminated = t
		}
		return wl.Ready
	case "backoff":
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: strings.TrimSpace("back-off restarting the container's process " + wl.LastError)}
		if t := last(); t != nil {
			cs.LastTerminationState.Terminated = t
		}
		return false
	default: // exited, stopped
		t := last()
		if t == nil {
			t = &corev1.ContainerStateTerminated{Reason: "Stopped", Message: wl.LastError, StartedAt: startedAt}
		}
		cs.State.Terminated = t
		if t.ExitCode == 0 {
			st.Phase = corev1.PodSucceeded
		} else {
			st.Phase = corev1.PodFailed
		}
		_ = policy
		return false
	}
}

func exitReason(code int) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

// conditions are the Pod's standard conditions for a status.
func conditions(pod *corev1.Pod, st corev1.PodStatus, ready bool, now time.Time) []corev1.PodCondition {
	prev := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range pod.Status.Conditions {
		prev[c.Type] = c
	}
	cond := func(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: metav1.NewTime(now)}
		if p, found := prev[t]; found && p.Status == s {
			c.LastTransitionTime = p.LastTransitionTime
		}
		return c
	}
	running := st.Phase == corev1.PodRunning
	notReady := ""
	if !ready {
		notReady = "ContainersNotReady"
	}
	return []corev1.PodCondition{
		cond(corev1.PodScheduled, true, ""),
		cond(corev1.PodInitialized, true, ""),
		cond(corev1.PodReadyToStartContainers, running || st.PodIP != "", ""),
		cond(corev1.ContainersReady, ready, notReady),
		cond(corev1.PodReady, ready, notReady),
	}
}

// qosOf is the Pod's QoS class: the API server's, which it sets at create
// and does not let change, else computed as Kubernetes does for the
// resources of the Pod's containers.
func qosOf(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	asked, guaranteed := false, true
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[name]
			lim, hasLim := c.Resources.Limits[name]
			if (hasReq && !req.IsZero()) || (hasLim && !lim.IsZero()) {
				asked = true
			}
			if !hasLim || lim.IsZero() || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !asked:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
