package cloudhypervisor

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/kestrel/client"
)

// The parts of Cloud Hypervisor's VmConfig (components/schemas/VmConfig in
// its API document) this driver sets. Field names are the document's.
type (
	vmConfig struct {
		CPUs    *cpusConfig    `json:"cpus,omitempty"`
		Memory  *memoryConfig  `json:"memory,omitempty"`
		Payload payloadConfig  `json:"payload"`
		Disks   []diskConfig   `json:"disks,omitempty"`
		Net     []netConfig    `json:"net,omitempty"`
		RNG     *rngConfig     `json:"rng,omitempty"`
		Serial  *consoleConfig `json:"serial,omitempty"`
		Console *consoleConfig `json:"console,omitempty"`
		Vsock   *vsockConfig   `json:"vsock,omitempty"`
	}
	cpusConfig struct {
		BootVCPUs int `json:"boot_vcpus"`
		MaxVCPUs  int `json:"max_vcpus"`
	}
	memoryConfig struct {
		Size int64 `json:"size"`
	}
	payloadConfig struct {
		Kernel    string `json:"kernel,omitempty"`
		Initramfs string `json:"initramfs,omitempty"`
		Cmdline   string `json:"cmdline,omitempty"`
	}
	diskConfig struct {
		Path      string `json:"path"`
		ReadOnly  bool   `json:"readonly,omitempty"`
		ImageType string `json:"image_type,omitempty"`
		ID        string `json:"id,omitempty"`
	}
	netConfig struct {
		Tap string `json:"tap"`
		MAC string `json:"mac,omitempty"`
		ID  string `json:"id,omitempty"`
	}
	rngConfig struct {
		Src string `json:"src"`
	}
	consoleConfig struct {
		Mode   string `json:"mode"`
		File   string `json:"file,omitempty"`
		Socket string `json:"socket,omitempty"`
	}
	vsockConfig struct {
		CID    int64  `json:"cid"`
		Socket string `json:"socket"`
	}
	// restoreConfig is components/schemas/RestoreConfig.
	restoreConfig struct {
		SourceURL         string `json:"source_url"`
		MemoryRestoreMode string `json:"memory_restore_mode,omitempty"`
		Resume            *bool  `json:"resume,omitempty"`
	}
	// snapshotConfig is components/schemas/VmSnapshotConfig.
	snapshotConfig struct {
		DestinationURL string `json:"destination_url"`
	}
	// vmResize is components/schemas/VmResize.
	vmResize struct {
		DesiredVCPUs int   `json:"desired_vcpus,omitempty"`
		DesiredRAM   int64 `json:"desired_ram,omitempty"`
	}
	// vmInfo is the part of components/schemas/VmInfo the driver reads.
	vmInfo struct {
		State string `json:"state"`
	}
	// vmmPing is components/schemas/VmmPingResponse.
	vmmPing struct {
		Version      string `json:"version"`
		BuildVersion string `json:"build_version,omitempty"`
		PID          int64  `json:"pid,omitempty"`
	}
)

// Files in a VM directory.
const (
	apiSocket    = "api.sock"
	vsockSocket  = "vsock.sock"
	serialSocket = "serial.sock"
	consoleLog   = "console.log"
	pidFile      = "ch.pid"
	vmmLog       = "vmm.log"
	recordFile   = "vm.json"
	restoreDir   = "restore"
)

// guestCID is the guest's vsock context id. A hybrid vsock device is
// private to its VM (the host side is a unix socket), so every guest can
// have the same one, and a restore keeps it.
const guestCID = 3

// paths are the host files of one VM.
type paths struct{ dir string }

func (p paths) api() string    { return filepath.Join(p.dir, apiSocket) }
func (p paths) vsock() string  { return filepath.Join(p.dir, vsockSocket) }
func (p paths) serial() string { return filepath.Join(p.dir, serialSocket) }
func (p paths) console() string {
	return filepath.Join(p.dir, consoleLog)
}

// buildVMConfig is the VmConfig of a boot of cfg: the payload with the
// driver's kernel arguments, vCPUs and memory (anonymous: the driver has
// no MemoryFile capability, so cfg.MemoryFile is ignored), disks, a tap network interface, the host's
// entropy, the serial port on a socket the driver tails, no virtio console,
// and the agent's hybrid vsock.
func buildVMConfig(cfg hypervisor.Config) (vmConfig, error) {
	p := paths{cfg.Dir}
	vc := vmConfig{
		CPUs:    &cpusConfig{BootVCPUs: cfg.VCPUs, MaxVCPUs: cfg.VCPUs},
		Memory:  &memoryConfig{Size: int64(cfg.MemoryMiB) << 20},
		Payload: payloadConfig{Kernel: cfg.Kernel, Initramfs: cfg.Initramfs, Cmdline: buildCmdline(cfg)},
		RNG:     &rngConfig{Src: "/dev/urandom"},
		Serial:  &consoleConfig{Mode: "Socket", Socket: p.serial()},
		Console: &consoleConfig{Mode: "Off"},
		Vsock:   &vsockConfig{CID: guestCID, Socket: p.vsock()},
	}
	for i, d := range cfg.Disks {
		t, err := imageType(d.Format)
		if err != nil {
			return vmConfig{}, fmt.Errorf("disk %d: %w", i, err)
		}
		vc.Disks = append(vc.Disks, diskConfig{Path: d.Path, ReadOnly: d.ReadOnly, ImageType: t, ID: fmt.Sprintf("disk%d", i)})
	}
	switch cfg.Net.Mode {
	case hypervisor.NetTap:
		mac := cfg.Net.MAC
		if mac == "" {
			mac = hypervisor.StableMAC(cfg.ID)
		}
		vc.Net = []netConfig{{Tap: cfg.Net.Tap, MAC: mac, ID: "net0"}}
	case hypervisor.NetUser:
		return vmConfig{}, errNoUserNet
	}
	return vc, nil
}

// imageType is the document's ImageType of a hypervisor.Disk format.
func imageType(format string) (string, error) {
	switch format {
	case "raw":
		return "Raw", nil
	case "qcow2":
		return "Qcow2", nil
	}
	return "", fmt.Errorf("format %q: cloud-hypervisor takes raw or qcow2", format)
}

// buildCmdline is the guest kernel command line: the driver's arguments,
// then cfg.Cmdline, so the caller's win where the kernel takes the last.
func buildCmdline(cfg hypervisor.Config) string {
	args := []string{
		"console=" + client.ConsoleDevice,
		"reboot=k", // a guest reboot ends the VMM
		"panic=1",  // and a panic reboots
	}
	args = append(args, hypervisor.GuestKernelArgs...)
	if cfg.Cmdline != "" {
		args = append(args, cfg.Cmdline)
	}
	return strings.Join(args, " ")
}

// restoreBindings are what a restored VM takes from its own config rather
// than from the snapshot's: its runtime sockets, its tap, its disk copies.
type restoreBindings struct {
	Dir   string
	Tap   string   // "" keeps none (the snapshot must have no net then)
	Disks []string // by index; "" keeps the snapshot's path (read-only disks)
}

// rebindConfig rewrites a snapshot's config.json (the VmConfig Cloud
// Hypervisor saved) for a restore into b.Dir. It keeps every field it does
// not know, so that the device state still matches.
func rebindConfig(snapshotConfig []byte, b restoreBindings) ([]byte, error) {
	var c map[string]any
	if err := json.Unmarshal(snapshotConfig, &c); err != nil {
		return nil, fmt.Errorf("reading the snapshot's config.json: %w", err)
	}
	p := paths{b.Dir}
	if v, ok := c["vsock"].(map[string]any); ok {
		v["socket"] = p.vsock()
	}
	if s, ok := c["serial"].(map[string]any); ok && s["mode"] == "Socket" {
		s["socket"] = p.serial()
	}
	if nets, ok := c["net"].([]any); ok {
		if len(nets) > 0 && b.Tap == "" {
			return nil, fmt.Errorf("the snapshot's guest has a network interface and the restore gives it no tap")
		}
		for _, n := range nets {
			if m, ok := n.(map[string]any); ok {
				m["tap"] = b.Tap
			}
		}
	} else if b.Tap != "" {
		return nil, fmt.Errorf("the snapshot's guest has no network interface and the restore gives it tap %s", b.Tap)
	}
	disks, _ := c["disks"].([]any)
	if len(disks) != len(b.Disks) {
		return nil, fmt.Errorf("the snapshot has %d disks, the restore gives %d", len(disks), len(b.Disks))
	}
	for i, d := range disks {
		if m, ok := d.(map[string]any); ok && b.Disks[i] != "" {
			m["path"] = b.Disks[i]
		}
	}
	return json.MarshalIndent(c, "", "  ")
}
