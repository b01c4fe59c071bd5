package kubelet

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/volant-sh/volant/sandbox"
)

func TestPodStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	running := &sandbox.Sandbox{ID: "sb1", State: sandbox.StateRunning, IP: "10.0.2.15/24", CreatedAt: now}
	code1, code0 := 1, 0
	tests := []struct {
		name     string
		obs      observed
		phase    corev1.PodPhase
		ip       string
		ready    bool
		waiting  string
		restarts int32
	}{
		{name: "creating", obs: observed{}, phase: corev1.PodPending, waiting: "ContainerCreating"},
		{name: "image does not pull", obs: observed{Refused: &refusal{Phase: corev1.PodPending, Reason: ReasonErrImagePull, Message: "no"}},
			phase: corev1.PodPending, waiting: ReasonErrImagePull},
		{name: "refused", obs: observed{Refused: refuse(ReasonUnsupported, "two containers")}, phase: corev1.PodFailed},
		{name: "running without a command", obs: observed{Sandbox: running}, phase: corev1.PodRunning, ip: "10.0.2.15", ready: true},
		{name: "workload starting", obs: observed{Sandbox: running, HasWorkload: true}, phase: corev1.PodRunning, ip: "10.0.2.15", waiting: "ContainerCreating"},
		{name: "workload ready", obs: observed{Sandbox: running, HasWorkload: true, Workload: &sandbox.WorkloadStatus{State: "ready", Ready: true, Restarts: 2, LastExitCode: &code1}},
			phase: corev1.PodRunning, ip: "10.0.2.15", ready: true, restarts: 2},
		{name: "workload crash looping", obs: observed{Sandbox: running, HasWorkload: true, Workload: &sandbox.WorkloadStatus{State: "backoff", Restarts: 3, LastExitCode: &code1}},
			phase: corev1.PodRunning, ip: "10.0.2.15", waiting: "CrashLoopBackOff", restarts: 3},
		{name: "workload done", obs: observed{Sandbox: running, HasWorkload: true, Workload: &sandbox.WorkloadStatus{State: "exited", LastExitCode: &code0}},
			phase: corev1.PodSucceeded, ip: "10.0.2.15"},
		{name: "workload failed", obs: observed{Sandbox: running, HasWorkload: true, Workload: &sandbox.WorkloadStatus{State: "exited", LastExitCode: &code1}},
			phase: corev1.PodFailed, ip: "10.0.2.15"},
		{name: "sandbox failed", obs: observed{Sandbox: &sandbox.Sandbox{ID: "sb1", State: sandbox.StateFailed, Reason: "vmm died"}}, phase: corev1.PodFailed},
		{name: "deleted", obs: observed{Deleted: true}, phase: corev1.PodSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := podStatus(testPod(nil), tt.obs, "192.0.2.1", now)
			if st.Phase != tt.phase || st.PodIP != tt.ip || st.HostIP != "192.0.2.1" {
				t.Errorf("phase %s ip %q host %q, want %s %q 192.0.2.1", st.Phase, st.PodIP, st.HostIP, tt.phase, tt.ip)
			}
			cs := st.ContainerStatuses[0]
			if cs.Ready != tt.ready || cs.RestartCount != tt.restarts || cs.Name != "main" {
				t.Errorf("container ready %v restarts %d name %q, want %v %d main", cs.Ready, cs.RestartCount, cs.Name, tt.ready, tt.restarts)
			}
			gotWaiting := ""
			if cs.State.Waiting != nil {
				gotWaiting = cs.State.Waiting.Reason
			}
			if gotWaiting != tt.waiting {
				t.Errorf("waiting reason %q, want %q", gotWaiting, tt.waiting)
			}
			if tt.phase == corev1.PodFailed && st.Reason == "" && cs.State.Terminated == nil {
				t.Errorf("a failed pod says no reason: %+v", st)
			}
			var podReady bool
			for _, c := range st.Conditions {
				if c.Type == corev1.PodReady {
					podReady = c.Status == corev1.ConditionTrue
				}
			}
			if podReady != tt.ready {
				t.Errorf("Ready condition %v, want %v", podReady, tt.ready)
			}
		})
	}
}

func TestQOSOf(t *testing.T) {
	res := func(req, lim corev1.ResourceList) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}}}}
	}
	both := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	mem := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}
	set := res(nil, nil)
	set.Status.QOSClass = corev1.PodQOSBurstable
	tests := []struct {
		name string
		pod  *corev1.Pod
		want corev1.PodQOSClass
	}{
		{"none", res(nil, nil), corev1.PodQOSBestEffort},
		{"limits of both", res(nil, both), corev1.PodQOSGuaranteed},
		{"requests equal limits", res(both, both), corev1.PodQOSGuaranteed},
		{"memory limit only", res(mem, mem), corev1.PodQOSBurstable},
		{"requests only", res(both, nil), corev1.PodQOSBurstable},
		{"the API server's wins", set, corev1.PodQOSBurstable},
	}
	for _, tt := range tests {
		if got := qosOf(tt.pod); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
