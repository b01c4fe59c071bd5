package image

import (
	"bytes"
	"debug/elf"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// WantedModules are the modules kestrel needs: virtio transports and
// devices (console for the agent channel, net, block, rng), vsock over
// virtio, and overlayfs. Build adds their dependencies.
var WantedModules = []string{
	"virtio", "virtio_ring", "virtio_mmio",
	"virtio_pci", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
	"virtio_console", "virtio_net", "failover", "net_failover",
	"virtio_blk", "virtio_rng",
	"vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport",
	"overlay",
}

// module is one kernel module from the package.
type module struct {
	Name string
	// Path is relative to lib/modules/<release>/, e.g. kernel/fs/overlayfs/overlay.ko.
	Path string
	Deps []string
	file string // where Build wrote it
}

// moduleName turns a module file path into the module's name.
func moduleName(p string) string {
	return strings.ReplaceAll(strings.TrimSuffix(path.Base(p), ".ko"), "-", "_")
}

// parseModule reads a module's name and dependencies from its .modinfo section.
func parseModule(p string, ko []byte) (*module, error) {
	m := &module{Name: moduleName(p), Path: p}
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, errdefs.Invalid("module %s is not an ELF file: %v", p, err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return m, nil
	}
	info, err := sec.Data()
	if err != nil {
		return nil, errdefs.Invalid("module %s: reading .modinfo: %v", p, err)
	}
	for kv := range bytes.SplitSeq(info, []byte{0}) {
		k, v, _ := strings.Cut(string(kv), "=")
		switch k {
		case "name":
			m.Name = v
		case "depends":
			for d := range strings.SplitSeq(v, ",") {
				if d != "" {
					m.Deps = append(m.Deps, strings.ReplaceAll(d, "-", "_"))
				}
			}
		}
	}
	sort.Strings(m.Deps)
	return m, nil
}

// loadOrder returns the wanted modules and everything they depend on,
// dependencies first, in a deterministic order. Modules built into the
// kernel are skipped; a wanted module that is neither present nor built in
// is an error.
func loadOrder(mods map[string]*module, builtin map[string]bool, wanted []string) ([]*module, error) {
	var order []*module
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, from string) error
	visit = func(name, from string) error {
		switch state[name] {
		case 1:
			return errdefs.Invalid("module dependency cycle through %s", name)
		case 2:
			return nil
		}
		m, ok := mods[name]
		if !ok {
			if builtin[name] {
				state[name] = 2
				return nil
			}
			if from != "" {
				return errdefs.Invalid("module %s depends on %s, which the kernel package lacks", from, name)
			}
			return errdefs.Invalid("kernel package has no module %s and does not build it in", name)
		}
		state[name] = 1
		for _, d := range m.Deps {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, m)
		return nil
	}
	for _, w := range wanted {
		if err := visit(strings.ReplaceAll(w, "-", "_"), ""); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// modulesDep renders modules.dep for the chosen modules, so busybox
// modprobe works in the guest too.
func modulesDep(order []*module, byName map[string]*module) []byte {
	var b strings.Builder
	for _, m := range order {
		fmt.Fprintf(&b, "%s:", m.Path)
		// modules.dep lists the full closure, nearest dependency first.
		for _, d := range closure(m, byName) {
			fmt.Fprintf(&b, " %s", d.Path)
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func closure(m *module, byName map[string]*module) []*module {
	seen := map[string]bool{m.Name: true}
	var out []*module
	queue := []*module{m}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, d := range cur.Deps {
			dm, ok := byName[d]
			if !ok || seen[d] {
				continue
			}
			seen[d] = true
			out = append(out, dm)
			queue = append(queue, dm)
		}
	}
	return out
}
