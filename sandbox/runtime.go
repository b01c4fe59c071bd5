package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/plugins"
)

// Runtimes: the built-in ones (an image each) and one per enabled runtime
// plugin, which runs on the default image with the plugin's files and
// workload set up at boot. A plugin may name a root filesystem (an OCI
// image pinned by digest, a built-in image, or an ext4 file the registry
// keeps): its sandboxes then run in that root as sandboxes of an image do
// (images.go), so the plugin's files, written through the agent, land in
// the root and its workload runs there; templates are keyed by the root's
// digest.

// workloadName is the name kestrel supervises a plugin's workload under.
const workloadName = "plugin"

// digest identifies everything the guest of rt gets; templates are keyed
// by it, so a new image or a new plugin version makes new templates.
func (rt Runtime) digest() string {
	if rt.Plugin == nil {
		return rt.ImageDigest
	}
	return rt.ImageDigest + "+" + rt.Plugin.Digest
}

// runtime resolves a runtime name: a built-in runtime, else an enabled
// plugin's.
func (m *Manager) runtime(ctx context.Context, name string) (Runtime, error) {
	if rt, ok := m.runtimes[name]; ok {
		return rt, nil
	}
	if m.cfg.Plugins == nil {
		return Runtime{}, errdefs.Invalid("runtime %q is not available; use one of: %s", name, strings.Join(m.runtimeNames(), ", "))
	}
	pr, err := m.cfg.Plugins.Runtime(ctx, name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return Runtime{}, errdefs.Invalid("runtime %q is not available: it is neither built in (%s) nor an installed plugin; install a plugin of that name or pick another runtime",
			name, strings.Join(m.runtimeNames(), ", "))
	}
	if err != nil {
		return Runtime{}, err
	}
	base, ok := m.runtimes[DefaultRuntime]
	if !ok {
		return Runtime{}, errdefs.Unavailable("runtime %q needs the default image, which this daemon does not have", name)
	}
	base.Name, base.Plugin = name, pr
	return base, nil
}

// imageOf is the runtime whose image a sandbox of runtime name boots:
// the built-in runtime itself, or the default one for a plugin.
func (m *Manager) imageOf(name string) Runtime {
	if rt, ok := m.runtimes[name]; ok {
		return rt
	}
	return m.runtimes[DefaultRuntime]
}

func (m *Manager) runtimeNames() []string {
	names := make([]string, 0, len(m.runtimes))
	for n := range m.runtimes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// applyRuntimeDefaults sizes spec by the plugin's resources where the
// caller left the size empty.
func applyRuntimeDefaults(spec *Spec, rt Runtime) {
	if rt.Plugin == nil || rt.Plugin.Resources == nil {
		return
	}
	if spec.VCPUs == 0 {
		spec.VCPUs = rt.Plugin.Resources.VCPUs
	}
	if spec.MemoryMiB == 0 {
		spec.MemoryMiB = rt.Plugin.Resources.MemoryMiB
	}
}

// setupPlugin puts a plugin runtime's files into a freshly booted guest
// and starts its workload, waiting until the workload is ready.
func (m *Manager) setupPlugin(ctx context.Context, agent *client.Client, rt Runtime) error {
	p := rt.Plugin
	if p == nil {
		return nil
	}
	for _, f := range p.Files {
		if err := pushFile(ctx, agent, f); err != nil {
			return fmt.Errorf("putting plugin %s's file %s into the guest: %w", p.Plugin, f.GuestPath, err)
		}
	}
	w := p.Workload
	if w == nil {
		return nil
	}
	spec := client.WorkloadSpec{Command: w.Command, Env: w.Env, Cwd: w.Cwd, Port: w.Port, Health: w.Health, Restart: w.Restart}
	if _, err := agent.StartWorkload(ctx, workloadName, spec); err != nil {
		return fmt.Errorf("starting plugin %s's workload: %w", p.Plugin, err)
	}
	wait := time.Duration(w.ReadyTimeoutS) * time.Second
	if wait <= 0 {
		wait = 30 * time.Second
	}
	st, err := agent.Workload(ctx, workloadName, wait)
	if err != nil {
		return fmt.Errorf("waiting for plugin %s's workload: %w", p.Plugin, err)
	}
	if !st.Ready {
		msg := fmt.Sprintf("plugin %s's workload is not ready after %s (state %s", p.Plugin, wait, st.State)
		if st.LastExitCode != nil {
			msg += fmt.Sprintf(", last exit code %d", *st.LastExitCode)
		}
		if st.LastError != "" {
			msg += ", " + st.LastError
		}
		msg += ")"
		if logs, err := agent.WorkloadLogs(ctx, workloadName, 2048); err == nil && len(logs) > 0 {
			msg += "; its output ends with:\n" + string(logs)
		}
		return errdefs.Unavailable("%s; fix the plugin's workload or raise workload.ready_timeout_s", msg)
	}
	return nil
}

// pluginRoot resolves the root filesystem a plugin runtime names: an
// image (kinds oci and image) through the image store exactly as
// Spec.Image, or the registry's ext4 file (kind rootfs).
func (m *Manager) pluginRoot(ctx context.Context, rt Runtime) (*ImageRootFS, error) {
	root := rt.Plugin.Root
	if root.Path != "" {
		if _, err := os.Stat(root.Path); err != nil {
			return nil, errdefs.WithRemedy(errdefs.Unavailable("runtime %s: its root filesystem %s is gone (%v); reinstall the plugin", rt.Name, root.Path, err),
				errdefs.OpPluginRemove, "name", rt.Plugin.Plugin)
		}
		return &ImageRootFS{Ref: "plugin:" + rt.Plugin.Plugin, Digest: root.Digest, Path: root.Path}, nil
	}
	if m.cfg.Images == nil {
		return nil, errdefs.Unavailable("runtime %s runs in image %s, but this daemon has no image store; run the daemon with images, or pick another runtime", rt.Name, root.Ref)
	}
	img, err := m.cfg.Images.RootFS(ctx, root.Ref)
	if err != nil {
		return nil, fmt.Errorf("runtime %s: its image %s: %w", rt.Name, root.Ref, err)
	}
	if img.Digest == "" || !filepath.IsAbs(img.Path) {
		return nil, fmt.Errorf("runtime %s: the image store gave image %s no digest or no absolute root file system path (%q)", rt.Name, root.Ref, img.Path)
	}
	if img.Ref == "" {
		img.Ref = root.Ref
	}
	return &img, nil
}

// rootSay names a plugin's root filesystem in a message.
func rootSay(r *plugins.RootRuntime) string {
	if r.Ref != "" {
		return "image " + r.Ref
	}
	return "its rootfs file"
}

// pushFile copies one artifact into the guest.
func pushFile(ctx context.Context, agent *client.Client, f plugins.File) error {
	r, err := os.Open(f.HostPath)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = agent.WriteFile(ctx, f.GuestPath, r, client.WriteOptions{Mode: os.FileMode(f.Mode), MkdirAll: true})
	return err
}
