package kubelet

import (
	"context"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/volant-sh/volant/sandbox"
)

// Usage figures for the kubelet API's /stats/summary (kubectl top through
// metrics-server, the HPA): each Pod's sandbox as the engine measures its
// VMM on the host. CPU is the VMM's CPU time (every vCPU and the VMM's
// own threads); the working set is the VMM's PSS, the figure admission
// counts; usage and RSS its RSS.

// cpuSample is a sandbox's CPU time when it was last read, for the rate.
type cpuSample struct {
	at  time.Time
	sec float64
}

// podUsage is one Pod's measured sandbox.
type podUsage struct {
	ref       statsv1alpha1.PodReference
	container string
	start     time.Time
	st        *sandbox.UsageStats
	nanoCores *uint64
}

// usage measures every running Pod's sandbox. A sandbox that cannot be
// measured now (it is booting, going away) is left out.
func (p *provider) usage(ctx context.Context) []podUsage {
	type target struct {
		ref       statsv1alpha1.PodReference
		container string
		id        string
		start     time.Time
	}
	var targets []target
	p.mu.Lock()
	for _, st := range p.pods {
		sb := st.obs.Sandbox
		if sb == nil || st.obs.Deleted || st.obs.Refused != nil || sb.State != sandbox.StateRunning {
			continue
		}
		c := ""
		if len(st.pod.Spec.Containers) > 0 {
			c = st.pod.Spec.Containers[0].Name
		}
		targets = append(targets, target{ref: statsv1alpha1.PodReference{Name: st.pod.Name, Namespace: st.pod.Namespace, UID: string(st.pod.UID)},
			container: c, id: sb.ID, start: sb.CreatedAt})
	}
	p.mu.Unlock()
	sort.Slice(targets, func(i, j int) bool { return targets[i].id < targets[j].id })
	var out []podUsage
	seen := map[string]bool{}
	for _, t := range targets {
		st, err := p.vol.SandboxStats(ctx, t.id)
		if err != nil {
			p.log.Debug("measuring a pod's sandbox", "pod", t.ref.Namespace+"/"+t.ref.Name, "err", err)
			continue
		}
		seen[t.id] = true
		u := podUsage{ref: t.ref, container: t.container, start: t.start, st: st}
		p.mu.Lock()
		if prev, ok := p.cpu[t.id]; ok && st.Time.After(prev.at) && st.CPUSeconds >= prev.sec {
			n := uint64((st.CPUSeconds - prev.sec) / st.Time.Sub(prev.at).Seconds() * 1e9)
			u.nanoCores = &n
		}
		p.cpu[t.id] = cpuSample{at: st.Time, sec: st.CPUSeconds}
		p.mu.Unlock()
		out = append(out, u)
	}
	p.mu.Lock()
	for id := range p.cpu {
		if !seen[id] {
			delete(p.cpu, id)
		}
	}
	p.mu.Unlock()
	return out
}

func u64(v uint64) *uint64 { return &v }

// GetStatsSummary answers the node's and each running Pod's CPU and
// memory, measured from the sandboxes' VMMs. The first read of a sandbox
// has its CPU time only; the rate (usageNanoCores) comes from the second.
func (p *provider) GetStatsSummary(ctx context.Context) (*statsv1alpha1.Summary, error) {
	now := metav1.Now()
	node := statsv1alpha1.NodeStats{NodeName: p.nodeName, StartTime: metav1.NewTime(p.started)}
	var cpuNS, cores, ws, rss uint64
	rated := true
	var pods []statsv1alpha1.PodStats
	for _, u := range p.usage(ctx) {
		t := metav1.NewTime(u.st.Time)
		cpu := &statsv1alpha1.CPUStats{Time: t, UsageNanoCores: u.nanoCores, UsageCoreNanoSeconds: u64(uint64(u.st.CPUSeconds * 1e9))}
		mem := &statsv1alpha1.MemoryStats{Time: t, WorkingSetBytes: u64(uint64(u.st.MemoryPSSBytes)),
			UsageBytes: u64(uint64(u.st.MemoryRSSBytes)), RSSBytes: u64(uint64(u.st.MemoryRSSBytes))}
		start := metav1.NewTime(u.start)
		pods = append(pods, statsv1alpha1.PodStats{
			PodRef: u.ref, StartTime: start, CPU: cpu, Memory: mem,
			Containers: []statsv1alpha1.ContainerStats{{Name: u.container, StartTime: start, CPU: cpu, Memory: mem}},
		})
		cpuNS += *cpu.UsageCoreNanoSeconds
		ws += *mem.WorkingSetBytes
		rss += *mem.RSSBytes
		if u.nanoCores != nil {
			cores += *u.nanoCores
		} else {
			rated = false
		}
	}
	node.CPU = &statsv1alpha1.CPUStats{Time: now, UsageCoreNanoSeconds: &cpuNS}
	if rated {
		node.CPU.UsageNanoCores = &cores
	}
	node.Memory = &statsv1alpha1.MemoryStats{Time: now, WorkingSetBytes: &ws, UsageBytes: &rss, RSSBytes: &rss}
	return &statsv1alpha1.Summary{Node: node, Pods: pods}, nil
}

// GetMetricsResource answers the resource metrics (/metrics/resource,
// what metrics-server reads) from the same measurements.
func (p *provider) GetMetricsResource(ctx context.Context) ([]*dto.MetricFamily, error) {
	now := time.Now().UnixMilli()
	gauge := func(name, help string) *dto.MetricFamily {
		return &dto.MetricFamily{Name: &name, Help: &help, Type: dto.MetricType_GAUGE.Enum()}
	}
	counter := func(name, help string) *dto.MetricFamily {
		return &dto.MetricFamily{Name: &name, Help: &help, Type: dto.MetricType_COUNTER.Enum()}
	}
	label := func(k, v string) *dto.LabelPair { return &dto.LabelPair{Name: &k, Value: &v} }
	podCPU := counter("pod_cpu_usage_seconds_total", "Cumulative CPU time of the pod's sandbox (its VMM) in core-seconds")
	podMem := gauge("pod_memory_working_set_bytes", "Working set (PSS) of the pod's sandbox (its VMM) in bytes")
	cCPU := counter("container_cpu_usage_seconds_total", "Cumulative CPU time of the container's sandbox in core-seconds")
	cMem := gauge("container_memory_working_set_bytes", "Working set (PSS) of the container's sandbox in bytes")
	var nodeCPU, nodeMem float64
	for _, u := range p.usage(ctx) {
		pl := []*dto.LabelPair{label("namespace", u.ref.Namespace), label("pod", u.ref.Name)}
		cl := append([]*dto.LabelPair{label("container", u.container)}, pl...)
		cpu, mem := u.st.CPUSeconds, float64(u.st.MemoryPSSBytes)
		podCPU.Metric = append(podCPU.Metric, &dto.Metric{Label: pl, Counter: &dto.Counter{Value: &cpu}, TimestampMs: &now})
		podMem.Metric = append(podMem.Metric, &dto.Metric{Label: pl, Gauge: &dto.Gauge{Value: &mem}, TimestampMs: &now})
		cCPU.Metric = append(cCPU.Metric, &dto.Metric{Label: cl, Counter: &dto.Counter{Value: &cpu}, TimestampMs: &now})
		cMem.Metric = append(cMem.Metric, &dto.Metric{Label: cl, Gauge: &dto.Gauge{Value: &mem}, TimestampMs: &now})
		nodeCPU += cpu
		nodeMem += mem
	}
	nCPU := counter("node_cpu_usage_seconds_total", "Cumulative CPU time of the node's pod sandboxes in core-seconds")
	nCPU.Metric = []*dto.Metric{{Counter: &dto.Counter{Value: &nodeCPU}, TimestampMs: &now}}
	nMem := gauge("node_memory_working_set_bytes", "Working set (PSS) of the node's pod sandboxes in bytes")
	nMem.Metric = []*dto.Metric{{Gauge: &dto.Gauge{Value: &nodeMem}, TimestampMs: &now}}
	return []*dto.MetricFamily{nCPU, nMem, podCPU, podMem, cCPU, cMem}, nil
}
