package cloudhypervisor

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

// vmConfigSchema is the document's VmConfig, to check golden bodies by.
func vmConfigSchema(t *testing.T) *openapi3.Schema {
	t.Helper()
	doc, _, err := loadSpec(specPath(t))
	if err != nil {
		t.Fatal(err)
	}
	return doc.Components.Schemas["VmConfig"].Value
}

func TestBuildVMConfig(t *testing.T) {
	schema := vmConfigSchema(t)
	base := func(mod func(*hypervisor.Config)) hypervisor.Config {
		c := hypervisor.Config{ID: "vm1", Dir: "/run/v/vm1", VCPUs: 2, MemoryMiB: 512, Kernel: "/img/vmlinux", Initramfs: "/img/initrd",
			Cmdline: "volant.hostname=vm1", Net: hypervisor.Net{Mode: hypervisor.NetNone}}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	const (
		head    = `"cpus":{"boot_vcpus":2,"max_vcpus":2},`
		payload = `"payload":{"kernel":"/img/vmlinux","initramfs":"/img/initrd","cmdline":"console=ttyS0 reboot=k panic=1 cryptomgr.notests psi=0 lsm=landlock,lockdown,yama,bpf volant.hostname=vm1"},`
		tail    = `"rng":{"src":"/dev/urandom"},"serial":{"mode":"Socket","socket":"/run/v/vm1/serial.sock"},"console":{"mode":"Off"},"vsock":{"cid":3,"socket":"/run/v/vm1/vsock.sock"}}`
	)
	tests := []struct {
		name string
		cfg  hypervisor.Config
		want string
	}{
		{"boot, no disks, no net", base(nil),
			`{` + head + `"memory":{"size":536870912},` + payload + tail},
		{"a memory file is ignored", base(func(c *hypervisor.Config) { c.MemoryFile = "/dev/shm/vm1.mem" }),
			`{` + head + `"memory":{"size":536870912},` + payload + tail},
		{"disks and a tap", base(func(c *hypervisor.Config) {
			c.Disks = []hypervisor.Disk{{Path: "/d/data.raw", Format: "raw"}, {Path: "/d/root.qcow2", Format: "qcow2", ReadOnly: true}}
			c.Net = hypervisor.Net{Mode: hypervisor.NetTap, Tap: "vt-vm1", MAC: "02:76:6c:00:00:01"}
		}),
			`{` + head + `"memory":{"size":536870912},` + payload +
				`"disks":[{"path":"/d/data.raw","image_type":"Raw","id":"disk0"},{"path":"/d/root.qcow2","readonly":true,"image_type":"Qcow2","id":"disk1"}],` +
				`"net":[{"tap":"vt-vm1","mac":"02:76:6c:00:00:01","id":"net0"}],` + tail},
		{"a tap without a MAC gets a stable one", base(func(c *hypervisor.Config) { c.Net = hypervisor.Net{Mode: hypervisor.NetTap, Tap: "vt-vm1"} }),
			`{` + head + `"memory":{"size":536870912},` + payload + `"net":[{"tap":"vt-vm1","mac":"` + hypervisor.StableMAC("vm1") + `","id":"net0"}],` + tail},
		{"no initramfs, no extra cmdline", base(func(c *hypervisor.Config) { c.Initramfs, c.Cmdline = "", "" }),
			`{` + head + `"memory":{"size":536870912},"payload":{"kernel":"/img/vmlinux","cmdline":"console=ttyS0 reboot=k panic=1 cryptomgr.notests psi=0 lsm=landlock,lockdown,yama,bpf"},` + tail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vc, err := buildVMConfig(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(vc)
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("VmConfig (-want +got):\n%s", diff)
			}
			var v any
			json.Unmarshal(got, &v)
			if err := schema.VisitJSON(v); err != nil {
				t.Errorf("the VmConfig breaks the document: %v", err)
			}
		})
	}

	errs := []struct {
		name string
		cfg  hypervisor.Config
		want string
	}{
		{"user-mode net", base(func(c *hypervisor.Config) { c.Net.Mode = hypervisor.NetUser }), "user-mode network"},
		{"vmdk disk", base(func(c *hypervisor.Config) { c.Disks = []hypervisor.Disk{{Path: "/d/x", Format: "vmdk"}} }), "raw or qcow2"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildVMConfig(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRebindConfig(t *testing.T) {
	// A config.json as Cloud Hypervisor writes it: every field, defaults
	// filled in; the driver must keep what it does not re-bind.
	snap := `{"cpus":{"boot_vcpus":1,"max_vcpus":1,"kvm_hyperv":false},"memory":{"size":268435456,"thp":true},
		"payload":{"kernel":"/img/vmlinux","cmdline":"console=ttyS0"},
		"disks":[{"path":"/old/data.raw","readonly":false,"id":"disk0"},{"path":"/img/root.raw","readonly":true,"id":"disk1"}],
		"net":[{"tap":"vt-old","mac":"02:76:6c:00:00:01","id":"net0","num_queues":2}],
		"serial":{"mode":"Socket","socket":"/old/serial.sock"},"console":{"mode":"Off"},
		"vsock":{"cid":3,"socket":"/old/vsock.sock","id":"_vsock0"},"iommu":false}`
	got, err := rebindConfig([]byte(snap), restoreBindings{Dir: "/new", Tap: "vt-new", Disks: []string{"/new/disk0.raw", ""}})
	if err != nil {
		t.Fatal(err)
	}
	var gotV, wantV any
	json.Unmarshal(got, &gotV)
	want := strings.NewReplacer(`"/old/data.raw"`, `"/new/disk0.raw"`, `"vt-old"`, `"vt-new"`,
		`"/old/serial.sock"`, `"/new/serial.sock"`, `"/old/vsock.sock"`, `"/new/vsock.sock"`).Replace(snap)
	json.Unmarshal([]byte(want), &wantV)
	if diff := cmp.Diff(wantV, gotV); diff != "" {
		t.Errorf("rebound config (-want +got):\n%s", diff)
	}
	if err := vmConfigSchema(t).VisitJSON(gotV); err != nil {
		t.Errorf("the rebound config breaks the document: %v", err)
	}

	errs := []struct {
		name string
		snap string
		b    restoreBindings
		want string
	}{
		{"net without a tap", `{"payload":{},"net":[{"tap":"a"}]}`, restoreBindings{Dir: "/n"}, "gives it no tap"},
		{"a tap without net", `{"payload":{}}`, restoreBindings{Dir: "/n", Tap: "t"}, "has no network interface"},
		{"disk count", `{"payload":{},"disks":[{"path":"/a"}]}`, restoreBindings{Dir: "/n"}, "1 disks, the restore gives 0"},
		{"not json", `{`, restoreBindings{Dir: "/n"}, "config.json"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rebindConfig([]byte(tt.snap), tt.b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestBuildRestoreConfig(t *testing.T) {
	doc, _, err := loadSpec(specPath(t))
	if err != nil {
		t.Fatal(err)
	}
	schema := doc.Components.Schemas["RestoreConfig"].Value
	tests := []struct {
		userfaultfd bool
		want        string
	}{
		{true, `{"source_url":"file:///v/c/restore","memory_restore_mode":"OnDemand","resume":true}`},
		{false, `{"source_url":"file:///v/c/restore","memory_restore_mode":"Copy","resume":true}`},
	}
	for _, tt := range tests {
		got, _ := json.Marshal(buildRestoreConfig("/v/c/restore", tt.userfaultfd))
		if diff := cmp.Diff(tt.want, string(got)); diff != "" {
			t.Errorf("userfaultfd %v: RestoreConfig (-want +got):\n%s", tt.userfaultfd, diff)
		}
		var v any
		json.Unmarshal(got, &v)
		if err := schema.VisitJSON(v); err != nil {
			t.Errorf("the RestoreConfig breaks the document: %v", err)
		}
	}
}

func TestStateOf(t *testing.T) {
	for in, want := range map[string]hypervisor.State{
		"Running": hypervisor.StateRunning, "Paused": hypervisor.StatePaused, "Shutdown": hypervisor.StateStopped,
		"Created": hypervisor.StateStopped, "BreakPoint": hypervisor.StateUnknown,
	} {
		if got := stateOf(in); got != want {
			t.Errorf("stateOf(%q): got %v, want %v", in, got, want)
		}
	}
}

func TestCheckRestorable(t *testing.T) {
	snap := hypervisor.Config{VCPUs: 1, MemoryMiB: 256, Net: hypervisor.Net{Mode: hypervisor.NetTap, Tap: "a"}}
	m := manifest{VMMVersion: "v53", Config: snap}
	if err := checkRestorable("v53", m, snap); err != nil {
		t.Errorf("same shape: %v", err)
	}
	bad := snap
	bad.VCPUs, bad.Net.Mode = 2, hypervisor.NetNone
	err := checkRestorable("v54", m, bad)
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("got %v, want ErrInvalidArgument", err)
	}
	for _, want := range []string{`written by "v53"`, "vcpus 2", "net mode none"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
