package kubelet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/volant-sh/volant/kestrel/client"
)

// A Pod's volumes in the guest. The guest has one private, writable file
// system, so an emptyDir is a directory made at its mountPath, and a
// volume whose content comes from the API server (configMap, secret,
// downwardAPI, projected: the service account token) is written as files
// under its mountPath before the container starts. A projected service
// account token is written again before it expires.

// ReasonFailedMount is the container's waiting reason when a volume's
// content could not be read or written.
const ReasonFailedMount = "FailedMount"

// defaultTokenSeconds is a service account token's lifetime when the
// projection does not say (Kubernetes' default).
const defaultTokenSeconds = 3600

// mount is one of the container's volume mounts.
type mount struct {
	Path   string
	Volume corev1.Volume
	// Token says the content holds a service account token, written
	// again before it expires.
	Token bool
}

func hasToken(ms []mount) bool {
	for _, m := range ms {
		if m.Token {
			return true
		}
	}
	return false
}

// files says the volume's content is files from the API server.
func (m mount) files() bool { return m.Volume.EmptyDir == nil }

// volumeFile is one file of a volume, its path relative to the mountPath.
type volumeFile struct {
	Data []byte
	Mode fs.FileMode
}

// planMounts checks the Pod's volumes and the container's mounts. It
// refuses what the guest cannot carry out, saying which volume and why.
func planMounts(pod *corev1.Pod, c corev1.Container) ([]mount, []string, *refusal) {
	vols := map[string]corev1.Volume{}
	var warnings []string
	for _, v := range pod.Spec.Volumes {
		if r := checkVolume(v); r != nil {
			return nil, nil, r
		}
		if v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil {
			warnings = append(warnings, fmt.Sprintf("volume %s: the emptyDir's sizeLimit is not enforced (it is a directory on the guest's disk)", v.Name))
		}
		vols[v.Name] = v
	}
	var out []mount
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			return nil, nil, refuse(ReasonInvalid, "volume mount %s names no volume of the pod", vm.Name)
		}
		if vm.SubPath != "" || vm.SubPathExpr != "" {
			return nil, nil, refuse(ReasonUnsupported, "volume mount %s: subPath is not supported; mount the whole volume", vm.Name)
		}
		if !path.IsAbs(vm.MountPath) || path.Clean(vm.MountPath) == "/" {
			return nil, nil, refuse(ReasonInvalid, "volume mount %s: mountPath %q must be an absolute path below /", vm.Name, vm.MountPath)
		}
		m := mount{Path: path.Clean(vm.MountPath), Volume: v}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				m.Token = m.Token || s.ServiceAccountToken != nil
			}
		}
		out = append(out, m)
	}
	return out, warnings, nil
}

// checkVolume refuses a volume kind the provider cannot give the guest.
func checkVolume(v corev1.Volume) *refusal {
	unsupported := func(kind string) *refusal {
		return refuse(ReasonUnsupported, "volume %s: %s volumes are not supported (a Volant sandbox has one private disk); "+
			"use emptyDir, configMap, secret, downwardAPI or projected", v.Name, kind)
	}
	switch {
	case v.EmptyDir != nil:
		return nil
	case v.ConfigMap != nil, v.Secret != nil:
		return nil
	case v.DownwardAPI != nil:
		return checkDownward(v.Name, v.DownwardAPI.Items)
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			switch {
			case s.ServiceAccountToken != nil, s.ConfigMap != nil, s.Secret != nil:
			case s.DownwardAPI != nil:
				if r := checkDownward(v.Name, s.DownwardAPI.Items); r != nil {
					return r
				}
			default:
				return refuse(ReasonUnsupported, "volume %s: a projected source other than serviceAccountToken, configMap, secret or downwardAPI is not supported", v.Name)
			}
		}
		return nil
	case v.HostPath != nil:
		return unsupported("hostPath")
	case v.PersistentVolumeClaim != nil:
		return unsupported("persistentVolumeClaim")
	case v.Ephemeral != nil:
		return unsupported("ephemeral")
	case v.CSI != nil:
		return unsupported("csi")
	case v.NFS != nil:
		return unsupported("nfs")
	case v.Image != nil:
		return unsupported("image")
	}
	return unsupported("this kind of")
}

// downwardFields are the fieldRefs a downwardAPI item may name.
var downwardFields = map[string]bool{
	"metadata.name": true, "metadata.namespace": true, "metadata.uid": true,
	"metadata.labels": true, "metadata.annotations": true,
	"spec.nodeName": true, "spec.serviceAccountName": true,
}

func checkDownward(vol string, items []corev1.DownwardAPIVolumeFile) *refusal {
	for _, it := range items {
		if it.FieldRef == nil || !downwardFields[it.FieldRef.FieldPath] {
			return refuse(ReasonUnsupported, "volume %s: downwardAPI item %s: only fieldRef of metadata.name, namespace, uid, labels, annotations, spec.nodeName and spec.serviceAccountName is supported", vol, it.Path)
		}
	}
	return nil
}

// mountVolumes makes the container's volumes in the guest: emptyDirs as
// directories, the others as their files. It returns when the service
// account tokens it wrote expire (zero when none was written).
func (p *provider) mountVolumes(ctx context.Context, id string, pod *corev1.Pod, mounts []mount) (time.Time, error) {
	if pod == nil {
		return time.Time{}, errors.New("the pod was deleted")
	}
	var expires time.Time
	for _, m := range mounts {
		if !m.files() {
			if _, err := p.vol.Mkdir(ctx, id, m.Path, 0o777); err != nil {
				return time.Time{}, fmt.Errorf("volume %s: making %s: %w", m.Volume.Name, m.Path, err)
			}
			continue
		}
		exp, err := p.writeVolume(ctx, id, pod, m)
		if err != nil {
			return time.Time{}, err
		}
		if !exp.IsZero() && (expires.IsZero() || exp.Before(expires)) {
			expires = exp
		}
	}
	return expires, nil
}

// writeVolume writes a volume's files under its mountPath.
func (p *provider) writeVolume(ctx context.Context, id string, pod *corev1.Pod, m mount) (time.Time, error) {
	files, exp, err := p.volumeFiles(ctx, pod, m.Volume)
	if err != nil {
		return time.Time{}, fmt.Errorf("volume %s: %w", m.Volume.Name, err)
	}
	if _, err := p.vol.Mkdir(ctx, id, m.Path, 0o755); err != nil {
		return time.Time{}, fmt.Errorf("volume %s: making %s: %w", m.Volume.Name, m.Path, err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := files[name]
		rel := path.Clean(name)
		if path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return time.Time{}, fmt.Errorf("volume %s: file path %q leaves the mount", m.Volume.Name, name)
		}
		dst := path.Join(m.Path, rel)
		if _, err := p.vol.WriteFile(ctx, id, dst, bytes.NewReader(f.Data), int64(len(f.Data)),
			client.WriteOptions{Mode: f.Mode, SetMode: true, MkdirAll: true}); err != nil {
			return time.Time{}, fmt.Errorf("volume %s: writing %s: %w", m.Volume.Name, dst, err)
		}
	}
	return exp, nil
}

func fileMode(item, def *int32, fallback fs.FileMode) fs.FileMode {
	switch {
	case item != nil:
		return fs.FileMode(*item) & fs.ModePerm
	case def != nil:
		return fs.FileMode(*def) & fs.ModePerm
	}
	return fallback
}

// volumeFiles reads a volume's content from the API server: its files by
// relative path, and when a service account token in it expires.
func (p *provider) volumeFiles(ctx context.Context, pod *corev1.Pod, v corev1.Volume) (map[string]volumeFile, time.Time, error) {
	out := map[string]volumeFile{}
	var exp time.Time
	switch {
	case v.ConfigMap != nil:
		err := p.configMapFiles(ctx, pod.Namespace, *v.ConfigMap, fileMode(nil, v.ConfigMap.DefaultMode, 0o644), out)
		return out, exp, err
	case v.Secret != nil:
		err := p.secretFiles(ctx, pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, fileMode(nil, v.Secret.DefaultMode, 0o644), out)
		return out, exp, err
	case v.DownwardAPI != nil:
		downwardFiles(pod, v.DownwardAPI.Items, fileMode(nil, v.DownwardAPI.DefaultMode, 0o644), out)
		return out, exp, nil
	case v.Projected != nil:
		def := fileMode(nil, v.Projected.DefaultMode, 0o644)
		for _, s := range v.Projected.Sources {
			var err error
			switch {
			case s.ServiceAccountToken != nil:
				var tok string
				tok, exp, err = p.token(ctx, pod, *s.ServiceAccountToken)
				out[s.ServiceAccountToken.Path] = volumeFile{Data: []byte(tok), Mode: def}
			case s.ConfigMap != nil:
				err = p.configMapFiles(ctx, pod.Namespace, corev1.ConfigMapVolumeSource{LocalObjectReference: s.ConfigMap.LocalObjectReference,
					Items: s.ConfigMap.Items, Optional: s.ConfigMap.Optional}, def, out)
			case s.Secret != nil:
				err = p.secretFiles(ctx, pod.Namespace, s.Secret.Name, s.Secret.Items, s.Secret.Optional, def, out)
			case s.DownwardAPI != nil:
				downwardFiles(pod, s.DownwardAPI.Items, def, out)
			}
			if err != nil {
				return nil, time.Time{}, err
			}
		}
		return out, exp, nil
	}
	return nil, time.Time{}, errors.New("not a volume of files")
}

// keyFiles puts a ConfigMap's or Secret's keys (all, or the items listed)
// into out.
func keyFiles(kind, name string, data map[string][]byte, items []corev1.KeyToPath, def fs.FileMode, out map[string]volumeFile) error {
	if len(items) == 0 {
		for k, b := range data {
			out[k] = volumeFile{Data: b, Mode: def}
		}
		return nil
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("%s %s has no key %s", kind, name, it.Key)
		}
		out[it.Path] = volumeFile{Data: b, Mode: fileMode(it.Mode, nil, def)}
	}
	return nil
}

func (p *provider) configMapFiles(ctx context.Context, ns string, src corev1.ConfigMapVolumeSource, def fs.FileMode, out map[string]volumeFile) error {
	cm, err := p.kube.CoreV1().ConfigMaps(ns).Get(ctx, src.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && src.Optional != nil && *src.Optional {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading configMap %s: %w", src.Name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles("configMap", src.Name, data, src.Items, def, out)
}

func (p *provider) secretFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, def fs.FileMode, out map[string]volumeFile) error {
	s, err := p.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading secret %s: %w", name, err)
	}
	return keyFiles("secret", name, s.Data, items, def, out)
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def fs.FileMode, out map[string]volumeFile) {
	kv := func(m map[string]string) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%q\n", k, m[k])
		}
		return b.String()
	}
	for _, it := range items {
		var v string
		switch it.FieldRef.FieldPath {
		case "metadata.name":
			v = pod.Name
		case "metadata.namespace":
			v = pod.Namespace
		case "metadata.uid":
			v = string(pod.UID)
		case "metadata.labels":
			v = kv(pod.Labels)
		case "metadata.annotations":
			v = kv(pod.Annotations)
		case "spec.nodeName":
			v = pod.Spec.NodeName
		case "spec.serviceAccountName":
			v = pod.Spec.ServiceAccountName
		}
		out[it.Path] = volumeFile{Data: []byte(v), Mode: fileMode(it.Mode, nil, def)}
	}
}

// token asks the API server for the Pod's service account token, bound to
// the Pod (TokenRequest), as the kubelet does for a projected volume.
func (p *provider) token(ctx context.Context, pod *corev1.Pod, src corev1.ServiceAccountTokenProjection) (string, time.Time, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	secs := int64(defaultTokenSeconds)
	if src.ExpirationSeconds != nil {
		secs = *src.ExpirationSeconds
	}
	var aud []string
	if src.Audience != "" {
		aud = []string{src.Audience}
	}
	tr, err := p.kube.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{Audiences: aud, ExpirationSeconds: &secs,
			BoundObjectRef: &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("requesting a token of service account %s: %w", sa, err)
	}
	return tr.Status.Token, tr.Status.ExpirationTimestamp.Time, nil
}

// refreshAt is when a token issued at issued and expiring at expires is
// written again: at 80% of its life (the kubelet's rule), at least a
// second from now.
func refreshAt(issued, expires time.Time) time.Time {
	at := issued.Add(expires.Sub(issued) * 8 / 10)
	if min := issued.Add(time.Second); at.Before(min) {
		at = min
	}
	return at
}

// keepTokens writes the Pod's token volumes again before their tokens
// expire, until ctx ends (the Pod is deleted or the provider stops). A
// write that fails is tried again in a minute (the token in the guest is
// still valid until it expires) and told as a Warning event.
func (p *provider) keepTokens(ctx context.Context, key, id string, mounts []mount, issued, expires time.Time) {
	for {
		wait := time.Until(refreshAt(issued, expires))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		pod := p.podOf(key)
		if pod == nil {
			return
		}
		now, next := time.Now(), time.Time{}
		var err error
		for _, m := range mounts {
			if !m.Token {
				continue
			}
			var exp time.Time
			if exp, err = p.writeVolume(ctx, id, pod, m); err != nil {
				break
			}
			if next.IsZero() || exp.Before(next) {
				next = exp
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil || next.IsZero() {
			p.log.Warn("refreshing the pod's service account token", "pod", key, "err", err)
			p.event(pod, corev1.EventTypeWarning, ReasonFailedMount, fmt.Sprintf("refreshing the service account token: %v", err))
			issued, expires = now, now.Add(75*time.Second) // try again in a minute
			continue
		}
		issued, expires = now, next
	}
}

// startTokenRefresh runs keepTokens for a Pod once; DeletePod stops it.
func (p *provider) startTokenRefresh(key string, st *podState, id string, mounts []mount, issued, expires time.Time) {
	p.mu.Lock()
	if st.keepStop != nil {
		p.mu.Unlock()
		return
	}
	ctx, stop := context.WithCancel(p.life)
	st.keepStop = stop
	p.mu.Unlock()
	p.goBackground(func() {
		defer stop()
		p.keepTokens(ctx, key, id, mounts, issued, expires)
	})
}

// podOf is the Pod this node runs under key, a copy.
func (p *provider) podOf(key string) *corev1.Pod {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.pods[key]; ok {
		return st.pod.DeepCopy()
	}
	return nil
}
