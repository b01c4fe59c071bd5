package image

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/errdefs"
)

func fakeModules() map[string]*module {
	mods := map[string]*module{}
	for _, m := range []*module{
		{Name: "virtio_ring", Path: "kernel/drivers/virtio/virtio_ring.ko"},
		{Name: "virtio", Path: "kernel/drivers/virtio/virtio.ko"},
		{Name: "virtio_net", Path: "kernel/drivers/net/virtio_net.ko", Deps: []string{"net_failover", "virtio", "virtio_ring"}},
		{Name: "net_failover", Path: "kernel/drivers/net/net_failover.ko", Deps: []string{"failover"}},
		{Name: "failover", Path: "kernel/net/core/failover.ko"},
		{Name: "virtio_rng", Path: "kernel/drivers/char/hw_random/virtio-rng.ko", Deps: []string{"rng_core", "virtio", "virtio_ring"}},
		{Name: "cyc_a", Path: "a.ko", Deps: []string{"cyc_b"}},
		{Name: "cyc_b", Path: "b.ko", Deps: []string{"cyc_a"}},
		{Name: "broken", Path: "broken.ko", Deps: []string{"absent"}},
	} {
		mods[m.Name] = m
	}
	return mods
}

func TestLoadOrder(t *testing.T) {
	builtin := map[string]bool{"rng_core": true, "overlay": true}
	tests := []struct {
		name   string
		wanted []string
		want   []string
		ok     bool
	}{
		{"deps first", []string{"virtio_net"}, []string{"failover", "net_failover", "virtio", "virtio_ring", "virtio_net"}, true},
		{"dash name, builtin dep", []string{"virtio-rng", "virtio"}, []string{"virtio", "virtio_ring", "virtio_rng"}, true},
		{"builtin wanted is skipped", []string{"overlay", "failover"}, []string{"failover"}, true},
		{"missing", []string{"vsock"}, nil, false},
		{"missing dependency", []string{"broken"}, nil, false},
		{"cycle", []string{"cyc_a"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, err := loadOrder(fakeModules(), builtin, tt.wanted)
			if !tt.ok {
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("loadOrder = %v, want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range order {
				got = append(got, m.Name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("load order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestModulesDep(t *testing.T) {
	mods := fakeModules()
	order, err := loadOrder(mods, nil, []string{"virtio_net"})
	if err != nil {
		t.Fatal(err)
	}
	want := "kernel/net/core/failover.ko:\n" +
		"kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n" +
		"kernel/drivers/virtio/virtio.ko:\n" +
		"kernel/drivers/virtio/virtio_ring.ko:\n" +
		"kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko kernel/net/core/failover.ko\n"
	if diff := cmp.Diff(want, string(modulesDep(order, mods))); diff != "" {
		t.Errorf("modules.dep (-want +got):\n%s", diff)
	}
}

func TestModuleName(t *testing.T) {
	for p, want := range map[string]string{
		"kernel/drivers/char/hw_random/virtio-rng.ko": "virtio_rng",
		"kernel/fs/overlayfs/overlay.ko":              "overlay",
		"kernel/drivers/virtio/virtio_pci.ko":         "virtio_pci",
	} {
		if got := moduleName(p); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", p, got, want)
		}
	}
}
