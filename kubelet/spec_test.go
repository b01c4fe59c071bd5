package kubelet

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/volant-sh/volant/sandbox"
)

func testPod(mod func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "1234-ABCD"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "volant.sh/runtime/default"}}},
	}
	if mod != nil {
		mod(p)
	}
	return p
}

func TestPlanPod(t *testing.T) {
	capacity := sandbox.Capacity{VCPUs: 8, MemoryMiB: 4096}
	labels := map[string]string{LabelNode: "n1", LabelNamespace: "ns", LabelPod: "web", LabelUID: "1234-ABCD", LabelContainer: "main"}
	tests := []struct {
		name     string
		mod      func(*corev1.Pod)
		want     *plan
		refusal  string
		phase    corev1.PodPhase
		warnings int
		check    func(*testing.T, *plan)
	}{
		{name: "plain", want: &plan{Spec: sandbox.Spec{Name: "pod-1234-abcd", Runtime: "default", Labels: labels}}},
		{name: "command, env, resources, annotations", mod: func(p *corev1.Pod) {
			c := &p.Spec.Containers[0]
			c.Command, c.Args, c.WorkingDir = []string{"sh", "-c"}, []string{"echo hi"}, "/tmp"
			c.Env = []corev1.EnvVar{{Name: "A", Value: "1"}}
			c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("300M")}
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Annotations = map[string]string{AnnotationTTL: "90s", AnnotationFromSnapshot: "snap1", AnnotationRuntime: "default"}
		}, want: &plan{
			Spec: sandbox.Spec{Name: "pod-1234-abcd", Runtime: "default", Labels: labels, VCPUs: 2, MemoryMiB: 287,
				TTLSeconds: 90, FromSnapshot: "snap1", Env: map[string]string{"A": "1"}},
			Workload: &sandbox.WorkloadSpec{Command: []string{"sh", "-c", "echo hi"}, Env: map[string]string{"A": "1"}, Cwd: "/tmp", Restart: "never"},
		}},
		{name: "limits win and tiny memory is raised", mod: func(p *corev1.Pod) {
			c := &p.Spec.Containers[0]
			c.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
			c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
		}, want: &plan{Spec: sandbox.Spec{Name: "pod-1234-abcd", Runtime: "default", Labels: labels, MemoryMiB: 128}}},
		{name: "an emptyDir's sizeLimit and dnsConfig are warnings", mod: func(p *corev1.Pod) {
			lim := resource.MustParse("1Gi")
			p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &lim}}}}
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"8.8.8.8"}}
		}, warnings: 2},
		{name: "egress shorthand", mod: func(p *corev1.Pod) { p.Annotations = map[string]string{AnnotationEgress: "deny"} },
			want: &plan{Spec: sandbox.Spec{Name: "pod-1234-abcd", Runtime: "default", Labels: labels, Egress: &sandbox.EgressPolicy{Default: "deny"}}}},
		{name: "egress as JSON", mod: func(p *corev1.Pod) {
			p.Annotations = map[string]string{AnnotationEgress: `{"default":"deny","allow":["pypi.org"]}`}
		}, want: &plan{Spec: sandbox.Spec{Name: "pod-1234-abcd", Runtime: "default", Labels: labels, Egress: &sandbox.EgressPolicy{Default: "deny", Allow: []string{"pypi.org"}}}}},
		{name: "bad egress", mod: func(p *corev1.Pod) { p.Annotations = map[string]string{AnnotationEgress: `{"default":"maybe"}`} },
			refusal: ReasonInvalid, phase: corev1.PodFailed},
		{name: "egress with an unknown field", mod: func(p *corev1.Pod) { p.Annotations = map[string]string{AnnotationEgress: `{"deafult":"deny"}`} },
			refusal: ReasonInvalid, phase: corev1.PodFailed},
		{name: "volumes mounted at their paths", mod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "unmounted", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "tok", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
				}}}},
			}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch/"}, {Name: "tok", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}}
		}, check: func(t *testing.T, pl *plan) {
			var got []string
			for _, m := range pl.Mounts {
				got = append(got, fmt.Sprintf("%s %s token=%v files=%v", m.Volume.Name, m.Path, m.Token, m.files()))
			}
			want := []string{"scratch /scratch token=false files=false", "tok /var/run/secrets/kubernetes.io/serviceaccount token=true files=true"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mounts (-want +got):\n%s", diff)
			}
		}},
		{name: "subPath", mod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "s", MountPath: "/s", SubPath: "x"}}
		}, refusal: ReasonUnsupported, phase: corev1.PodFailed},
		{name: "persistentVolumeClaim volume", mod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}}}
		}, refusal: ReasonUnsupported, phase: corev1.PodFailed},
		{name: "downwardAPI resourceFieldRef", mod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}}}}}}
		}, refusal: ReasonUnsupported, phase: corev1.PodFailed},
		{name: "clusterTrustBundle projection", mod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "b", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Path: "b"}}}}}}}
		}, refusal: ReasonUnsupported, phase: corev1.PodFailed},
		{name: "two containers", mod: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "x"})
		}, refusal: ReasonUnsupported, phase: corev1.PodFailed},
		{name: "hostPath volume", mod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}, refusal: ReasonUnsupported, phase: corev1.PodFailed},
		{name: "runtime image without a name", mod: func(p *corev1.Pod) { p.Spec.Containers[0].Image = RuntimeImagePrefix },
			refusal: ReasonErrImagePull, phase: corev1.PodPending},
		{name: "image and annotation disagree", mod: func(p *corev1.Pod) {
			p.Annotations = map[string]string{AnnotationRuntime: "python"}
		}, refusal: ReasonInvalid, phase: corev1.PodFailed},
		{name: "too many CPUs", mod: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("9")}
		}, refusal: ReasonOutOfCPU, phase: corev1.PodFailed},
		{name: "too much memory", mod: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("5Gi")}
		}, refusal: ReasonOutOfMemory, phase: corev1.PodFailed},
		{name: "env name Volant cannot take", mod: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "a.b", Value: "1"}}
		}, refusal: ReasonInvalid, phase: corev1.PodFailed},
		{name: "bad ttl", mod: func(p *corev1.Pod) { p.Annotations = map[string]string{AnnotationTTL: "soon"} },
			refusal: ReasonInvalid, phase: corev1.PodFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ref := planPod(testPod(tt.mod), capacity, "n1")
			if tt.refusal != "" {
				if ref == nil || ref.Reason != tt.refusal || ref.Phase != tt.phase || ref.Message == "" {
					t.Fatalf("refusal = %+v, want reason %s phase %s with a message", ref, tt.refusal, tt.phase)
				}
				return
			}
			if ref != nil {
				t.Fatalf("refused: %v", ref)
			}
			if len(got.Warnings) != tt.warnings {
				t.Errorf("warnings = %q, want %d", got.Warnings, tt.warnings)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
			if tt.want == nil {
				return
			}
			got.Warnings, got.Mounts = nil, nil
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(sandbox.Spec{})); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if err := got.Spec.Validate(sandbox.Limits{MaxVCPUs: 8, MaxMemoryMiB: 4096}); err != nil {
				t.Errorf("the engine refuses the spec: %v", err)
			}
		})
	}
}

func TestNewSince(t *testing.T) {
	long := make([]byte, 2000)
	for i := range long {
		long[i] = byte('a' + i%26)
	}
	tests := []struct {
		name      string
		prev, cur string
		want      string
	}{
		{"grew", "abc\n", "abc\ndef\n", "def\n"},
		{"same", "abc\n", "abc\n", ""},
		{"ring dropped its start", "1234567890", "567890xyz", "xyz"},
		{"nothing in common", "abc", "xyz", "xyz"},
		{"long ring slid", string(long), string(long[700:]) + "NEW", "NEW"},
	}
	for _, tt := range tests {
		if got := string(newSince([]byte(tt.prev), []byte(tt.cur))); got != tt.want {
			t.Errorf("%s: newSince = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// An OCI image goes to the sandbox's image, on the annotation's runtime.
func TestPlanOCIImage(t *testing.T) {
	var spec sandbox.Spec
	if r := imageSpec("debian:12", "", &spec); r != nil || spec.Image != "debian:12" || spec.Runtime != "" {
		t.Errorf("debian:12: refusal %v, spec %+v", r, spec)
	}
	spec = sandbox.Spec{}
	if r := imageSpec("registry.local/app@sha256:00", "echo", &spec); r != nil || spec.Image != "registry.local/app@sha256:00" || spec.Runtime != "echo" {
		t.Errorf("with a runtime annotation: refusal %v, spec %+v", r, spec)
	}
}

func TestRefreshAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		life time.Duration
		want time.Duration
	}{
		{time.Hour, 48 * time.Minute},
		{10 * time.Minute, 8 * time.Minute},
		{0, time.Second},
		{-time.Minute, time.Second},
	}
	for _, tt := range tests {
		if got := refreshAt(t0, t0.Add(tt.life)).Sub(t0); got != tt.want {
			t.Errorf("life %s: refresh after %s, want %s", tt.life, got, tt.want)
		}
	}
}
