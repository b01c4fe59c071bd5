package kubelet

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/sandbox"
)

// Keeping the provider's view in step with the engine and Kubernetes:
// adoption at start, the event stream, the poll loop.

// resync adopts the sandboxes of this node's Pods that the engine has,
// so a restarted provider creates nothing again. The Pods are stubs
// (namespace, name, UID, container name) until virtual-kubelet hands the
// real ones to UpdatePod.
func (p *provider) resync(ctx context.Context) (int, error) {
	n := 0
	cursor := ""
	for {
		page, err := p.vol.ListSandboxes(ctx, sandbox.ListOptions{Labels: map[string]string{LabelNode: p.nodeName}, Cursor: cursor, Limit: 500})
		if err != nil {
			return n, fmt.Errorf("listing this node's sandboxes: %w", err)
		}
		for _, sb := range page.Items {
			ns, name, uid := sb.Labels[LabelNamespace], sb.Labels[LabelPod], sb.Labels[LabelUID]
			if ns == "" || name == "" || uid == "" || sb.State == sandbox.StateDeleting {
				continue
			}
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)},
				Spec:       corev1.PodSpec{NodeName: p.nodeName, Containers: []corev1.Container{{Name: sb.Labels[LabelContainer]}}},
			}
			st := &podState{pod: pod, obs: observed{Sandbox: sb}}
			if sb.State == sandbox.StateRunning {
				if wl, err := p.vol.Workload(ctx, sb.ID, workloadName, 0); err == nil {
					st.obs.HasWorkload, st.obs.Workload = true, wl
				}
			}
			pod.Status = podStatus(pod, st.obs, p.hostIP, sb.CreatedAt)
			p.mu.Lock()
			p.pods[podKey(ns, name)] = st
			p.mu.Unlock()
			n++
		}
		if page.Next == "" {
			return n, nil
		}
		cursor = page.Next
	}
}

// keyOf finds the Pod of a sandbox id.
func (p *provider) keyOf(id string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, st := range p.pods {
		if st.obs.Sandbox != nil && st.obs.Sandbox.ID == id {
			return k, true
		}
	}
	return "", false
}

// watch keeps the Pods' statuses current: from the engine's event stream
// when it has one, and by reading every Pod's sandbox and workload each
// poll interval (a workload's restarts are not engine events).
func (p *provider) watch(stream *apiclient.EventStream) {
	if stream != nil {
		p.goBackground(func() {
			defer stream.Close()
			for {
				ev, err := stream.Next(p.life)
				if err != nil {
					if p.life.Err() == nil {
						p.log.Warn("engine event stream ended; statuses follow by polling only", "err", err)
					}
					return
				}
				if !strings.HasPrefix(ev.Type, "sandbox.") || ev.SandboxID == "" {
					continue
				}
				if key, ok := p.keyOf(ev.SandboxID); ok {
					p.refresh(p.life, key)
				}
			}
		})
	}
	p.goBackground(func() {
		t := time.NewTicker(p.poll)
		defer t.Stop()
		for {
			select {
			case <-p.life.Done():
				return
			case <-t.C:
			}
			p.forgetGone()
			p.mu.Lock()
			keys := make([]string, 0, len(p.pods))
			for k := range p.pods {
				keys = append(keys, k)
			}
			p.mu.Unlock()
			for _, k := range keys {
				p.refresh(p.life, k)
			}
		}
	})
}

// forgetGone drops refused Pods that Kubernetes deleted: virtual-kubelet
// removes a Failed Pod from the API server without asking the provider.
func (p *provider) forgetGone() {
	p.mu.Lock()
	lister := p.lister
	var gone []string
	for k, st := range p.pods {
		if lister == nil || st.obs.Sandbox != nil || st.obs.Refused == nil {
			continue
		}
		pod, err := lister.Pods(st.pod.Namespace).Get(st.pod.Name)
		if apierrors.IsNotFound(err) || (err == nil && pod.UID != st.pod.UID) {
			gone = append(gone, k)
		}
	}
	for _, k := range gone {
		delete(p.pods, k)
	}
	p.mu.Unlock()
}

// openEvents opens the engine's event stream of sandbox events, or nil
// when the engine has none.
func (p *provider) openEvents(ctx context.Context) *apiclient.EventStream {
	s, err := p.vol.Events(ctx, apiclient.EventsOptions{Types: []string{"sandbox.*"}, OnReconnect: func(err error) {
		p.log.Debug("engine event stream resumes", "err", err)
	}})
	if err != nil {
		p.log.Warn("no engine event stream; statuses follow by polling only", "err", err)
		return nil
	}
	return s
}
