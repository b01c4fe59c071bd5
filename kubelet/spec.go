package kubelet

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/volant-sh/volant/sandbox"
)

// The annotations a Pod may carry for what a PodSpec cannot say.
const (
	// AnnotationRuntime names the Volant runtime (a built-in image or a
	// runtime plugin) the Pod's sandbox runs.
	AnnotationRuntime = "volant.sh/runtime"
	// AnnotationFromSnapshot restores the sandbox from a snapshot id.
	AnnotationFromSnapshot = "volant.sh/from-snapshot"
	// AnnotationTTL deletes the sandbox this long after it was created
	// ("90s", "1h" or whole seconds).
	AnnotationTTL = "volant.sh/ttl"
	// AnnotationEgress is the sandbox's egress policy: "deny", "allow",
	// or the policy as JSON ({"default":"deny","allow":["pypi.org"]}).
	// The engine enforces it on bridged sandboxes and refuses it on
	// others.
	AnnotationEgress = "volant.sh/egress"
)

// The labels a Pod's sandbox carries, so a restarted provider finds its
// Pods in the engine again.
const (
	LabelNode      = "volant.sh/k8s-node"
	LabelNamespace = "volant.sh/k8s-namespace"
	LabelPod       = "volant.sh/k8s-pod"
	LabelUID       = "volant.sh/k8s-uid"
	LabelContainer = "volant.sh/k8s-container"
)

// RuntimeImagePrefix starts an image name that names a Volant runtime:
// "volant.sh/runtime/default" runs the default guest image.
const RuntimeImagePrefix = "volant.sh/runtime/"

// workloadName is what kestrel supervises the Pod's container as.
const workloadName = "pod"

// minMemoryMiB is the smallest guest the engine boots.
const minMemoryMiB = 128

// Reasons of a Pod or container the provider cannot run. Kubernetes
// tools know ErrImagePull and OutOfcpu/OutOfmemory from the kubelet.
const (
	ReasonErrImagePull = "ErrImagePull"
	ReasonUnsupported  = "VolantUnsupported"
	ReasonOutOfCPU     = "OutOfcpu"
	ReasonOutOfMemory  = "OutOfmemory"
	ReasonInvalid      = "VolantInvalid"
)

// refusal is why a Pod cannot run here: its phase (Pending for an image
// that does not pull, as the kubelet does; Failed otherwise) and reason.
type refusal struct {
	Phase   corev1.PodPhase
	Reason  string
	Message string
}

func (r *refusal) Error() string { return r.Reason + ": " + r.Message }

func refuse(reason, format string, args ...any) *refusal {
	return &refusal{Phase: corev1.PodFailed, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// plan is what a Pod becomes in the engine.
type plan struct {
	Spec sandbox.Spec
	// Workload is the container's process; nil when the container gives
	// neither command nor args (the sandbox itself is the container).
	Workload *sandbox.WorkloadSpec
	// Mounts are the container's volumes, made in the guest before its
	// command starts (volumes.go).
	Mounts []mount
	// Warnings are told to the user as events: what was accepted but
	// is not carried out.
	Warnings []string
}

// SandboxName is the name of a Pod's sandbox: unique per Pod (its UID).
func SandboxName(uid string) string { return "pod-" + strings.ToLower(uid) }

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// planPod maps a Pod to a sandbox spec and workload, or says why it cannot
// run here. capacity is the host's admission budget; nodeName labels the
// sandbox.
func planPod(pod *corev1.Pod, capacity sandbox.Capacity, nodeName string) (*plan, *refusal) {
	if n := len(pod.Spec.Containers); n != 1 {
		return nil, refuse(ReasonUnsupported, "the pod has %d containers; a Volant sandbox runs exactly one (put sidecars in the same image, or split the pod)", n)
	}
	if len(pod.Spec.InitContainers) > 0 {
		return nil, refuse(ReasonUnsupported, "init containers are not supported; run their steps in the container's command")
	}
	c := pod.Spec.Containers[0]
	mounts, warnings, r := planMounts(pod, c)
	if r != nil {
		return nil, r
	}
	p := &plan{Mounts: mounts, Warnings: warnings}
	if pod.Spec.DNSConfig != nil {
		p.Warnings = append(p.Warnings, "dnsConfig is ignored: the sandbox resolves names through the engine's network (its egress policy decides what it reaches)")
	}
	spec := sandbox.Spec{
		Name: SandboxName(string(pod.UID)),
		Labels: map[string]string{
			LabelNode:      nodeName,
			LabelNamespace: pod.Namespace,
			LabelPod:       pod.Name,
			LabelUID:       string(pod.UID),
			LabelContainer: c.Name,
		},
	}
	if err := imageSpec(c.Image, pod.Annotations[AnnotationRuntime], &spec); err != nil {
		return nil, err
	}
	if r := sizeSpec(c.Resources, capacity, &spec); r != nil {
		return nil, r
	}
	if v, ok := pod.Annotations[AnnotationFromSnapshot]; ok {
		spec.FromSnapshot = v
	}
	if v, ok := pod.Annotations[AnnotationTTL]; ok {
		ttl, err := parseTTL(v)
		if err != nil {
			return nil, refuse(ReasonInvalid, "annotation %s=%q: %v", AnnotationTTL, v, err)
		}
		spec.TTLSeconds = ttl
	}
	if v, ok := pod.Annotations[AnnotationEgress]; ok {
		pol, err := parseEgress(v)
		if err != nil {
			return nil, refuse(ReasonInvalid, "annotation %s=%q: %v", AnnotationEgress, v, err)
		}
		spec.Egress = pol
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if !envNameRE.MatchString(e.Name) {
			return nil, refuse(ReasonInvalid, "env %q: Volant takes names of letters, digits and '_', not starting with a digit", e.Name)
		}
		if e.ValueFrom != nil {
			return nil, refuse(ReasonUnsupported, "env %s: valueFrom could not be resolved; give a value", e.Name)
		}
		env[e.Name] = e.Value
	}
	if len(c.EnvFrom) > 0 {
		return nil, refuse(ReasonUnsupported, "envFrom is not supported; list the variables in env")
	}
	if len(env) > 0 {
		spec.Env = env
	}
	p.Spec = spec
	if len(c.Command) > 0 || len(c.Args) > 0 {
		argv := append(append([]string{}, c.Command...), c.Args...)
		p.Workload = &sandbox.WorkloadSpec{Command: argv, Env: spec.Env, Cwd: c.WorkingDir, Restart: restartOf(pod.Spec.RestartPolicy)}
	} else if c.WorkingDir != "" {
		p.Warnings = append(p.Warnings, "workingDir is ignored: the container has no command to run in it")
	}
	return p, nil
}

// imageSpec is the one place a container's image becomes part of the
// sandbox spec. An image named volant.sh/runtime/<name> runs that Volant
// runtime on its own guest; any other image is an OCI image the engine
// pulls (if it has not yet) and runs the sandbox in, on the runtime of the
// runtime annotation (default: the built-in one). A pull failure comes back
// from CreateSandbox and becomes ErrImagePull (see createFailure).
func imageSpec(image, runtimeAnnotation string, spec *sandbox.Spec) *refusal {
	name, ok := strings.CutPrefix(image, RuntimeImagePrefix)
	if !ok {
		if image == "" {
			return refuse(ReasonInvalid, "the container has no image; give an OCI image or %s<runtime>", RuntimeImagePrefix)
		}
		spec.Image = image
		if runtimeAnnotation != "" {
			spec.Runtime = runtimeAnnotation
		}
		return nil
	}
	if name == "" || strings.ContainsAny(name, "/:@") {
		return &refusal{Phase: corev1.PodPending, Reason: ReasonErrImagePull, Message: fmt.Sprintf(
			"image %q names no Volant runtime; use %s<runtime>, e.g. %sdefault, or an OCI image", image, RuntimeImagePrefix, RuntimeImagePrefix)}
	}
	if runtimeAnnotation != "" && runtimeAnnotation != name {
		return refuse(ReasonInvalid, "image %q names runtime %q but annotation %s says %q; make them agree or drop the annotation",
			image, name, AnnotationRuntime, runtimeAnnotation)
	}
	spec.Runtime = name
	return nil
}

// sizeSpec sizes the guest from the container's limits (or requests):
// whole vCPUs and MiB, rounded up; nothing asked means the engine's
// defaults. It refuses what the host can never give.
func sizeSpec(res corev1.ResourceRequirements, capacity sandbox.Capacity, spec *sandbox.Spec) *refusal {
	pick := func(name corev1.ResourceName) (resource.Quantity, bool) {
		if q, ok := res.Limits[name]; ok {
			return q, true
		}
		q, ok := res.Requests[name]
		return q, ok
	}
	if q, ok := pick(corev1.ResourceCPU); ok {
		spec.VCPUs = int(math.Ceil(float64(q.MilliValue()) / 1000))
		if spec.VCPUs < 1 {
			spec.VCPUs = 1
		}
		if capacity.VCPUs > 0 && spec.VCPUs > capacity.VCPUs {
			return refuse(ReasonOutOfCPU, "the container asks for %s CPU (%d vCPUs) and this host has %d", q.String(), spec.VCPUs, capacity.VCPUs)
		}
	}
	if q, ok := pick(corev1.ResourceMemory); ok {
		mib := int((q.Value() + (1<<20 - 1)) >> 20)
		spec.MemoryMiB = max(mib, minMemoryMiB)
		if capacity.MemoryMiB > 0 && spec.MemoryMiB > capacity.MemoryMiB {
			return refuse(ReasonOutOfMemory, "the container asks for %s memory (%d MiB) and this host has %d MiB", q.String(), spec.MemoryMiB, capacity.MemoryMiB)
		}
	}
	return nil
}

// parseTTL reads a TTL annotation: a Go duration or whole seconds.
func parseTTL(v string) (int, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("must not be negative")
		}
		return n, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("give a duration (90s, 1h) or whole seconds")
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative")
	}
	return int(math.Ceil(d.Seconds())), nil
}

func restartOf(p corev1.RestartPolicy) string {
	switch p {
	case corev1.RestartPolicyNever:
		return "never"
	case corev1.RestartPolicyOnFailure:
		return "on-failure"
	}
	return "always"
}

// parseEgress reads an egress annotation: "deny" or "allow" (the default
// with no rules), or the policy as JSON.
func parseEgress(v string) (*sandbox.EgressPolicy, error) {
	var pol sandbox.EgressPolicy
	switch v = strings.TrimSpace(v); v {
	case "deny", "allow":
		pol.Default = v
	default:
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&pol); err != nil {
			return nil, fmt.Errorf(`give "deny", "allow" or a policy as JSON, e.g. {"default":"deny","allow":["pypi.org"]}: %v`, err)
		}
	}
	if err := pol.Validate(); err != nil {
		return nil, err
	}
	return &pol, nil
}
