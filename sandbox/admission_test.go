package sandbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestAdmitByRealCost(t *testing.T) {
	host := HostSize{CPUs: 2, MemoryMiB: 4096, HeadroomMiB: 1024}
	tests := []struct {
		name     string
		budget   Capacity
		host     HostSize
		reserved map[string]Capacity
		pss      map[string]int64 // KiB, by id
		spec     Spec
		wantErr  string // substring; "" admits
	}{
		{
			name:     "idle clones fit by measured PSS",
			budget:   Capacity{VCPUs: 64, MemoryMiB: 16384},
			host:     host,
			reserved: many(10, Capacity{VCPUs: 1, MemoryMiB: 256}),
			pss:      pssOf(10, 35*1024),
			spec:     Spec{VCPUs: 1, MemoryMiB: 256},
		},
		{
			name:     "creates in flight count by configured size",
			budget:   Capacity{VCPUs: 64, MemoryMiB: 16384},
			host:     host,
			reserved: many(12, Capacity{VCPUs: 1, MemoryMiB: 256}),
			pss:      map[string]int64{},
			spec:     Spec{VCPUs: 1, MemoryMiB: 256},
			wantErr:  "sandboxes use 3072 MiB (measured PSS of 0 VMs 0 MiB, 12 starting 3072 MiB) of the 3072 MiB the host allows (4096 MiB minus 1024 MiB headroom) and this one asks for 256",
		},
		{
			name:     "measured use refuses",
			budget:   Capacity{VCPUs: 64, MemoryMiB: 16384},
			host:     host,
			reserved: many(3, Capacity{VCPUs: 1, MemoryMiB: 1024}),
			pss:      pssOf(3, 1000*1024),
			spec:     Spec{VCPUs: 1, MemoryMiB: 256},
			wantErr:  "measured PSS of 3 VMs 3000 MiB",
		},
		{
			name:     "configured vCPUs refuse with the overcommit",
			budget:   Capacity{VCPUs: 64, MemoryMiB: 16384},
			host:     host,
			reserved: many(64, Capacity{VCPUs: 1, MemoryMiB: 256}),
			pss:      pssOf(64, 10*1024),
			spec:     Spec{VCPUs: 1, MemoryMiB: 256},
			wantErr:  "64 of 64 vCPUs (2 host CPUs × overcommit 32) are given to sandboxes and this one asks for 1",
		},
		{
			name:     "configured memory bound",
			budget:   Capacity{VCPUs: 64, MemoryMiB: 1024},
			host:     host,
			reserved: many(4, Capacity{VCPUs: 1, MemoryMiB: 256}),
			pss:      pssOf(4, 10*1024),
			spec:     Spec{VCPUs: 1, MemoryMiB: 256},
			wantErr:  "1024 of 1024 MiB of configured guest memory",
		},
		{
			name:     "unknown host size admits by budget only",
			budget:   Capacity{VCPUs: 4, MemoryMiB: 2048},
			reserved: many(1, Capacity{VCPUs: 1, MemoryMiB: 256}),
			spec:     Spec{VCPUs: 1, MemoryMiB: 256},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Manager{cfg: Config{Budget: tt.budget, Host: tt.host}, reserved: tt.reserved}
			err := m.admitLocked(tt.spec, tt.pss)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("admit = %v; want admitted", err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrResourceExhausted) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("admit = %v; want resource exhausted with %q", err, tt.wantErr)
			}
			if rs := errdefs.Remedies(err); len(rs) != 1 || rs[0].Op != errdefs.OpSandboxList {
				t.Fatalf("remedies = %+v; want %s", rs, errdefs.OpSandboxList)
			}
		})
	}
}

func many(n int, c Capacity) map[string]Capacity {
	out := map[string]Capacity{}
	for i := range n {
		out[idN(i)] = c
	}
	return out
}

func pssOf(n int, kib int64) map[string]int64 {
	out := map[string]int64{}
	for i := range n {
		out[idN(i)] = kib
	}
	return out
}

func idN(i int) string { return "sb" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }

func TestAdmitCheckFanOut(t *testing.T) {
	m := &Manager{
		cfg:      Config{Budget: Capacity{VCPUs: 8, MemoryMiB: 16384}, Host: HostSize{CPUs: 2, MemoryMiB: 8192}},
		reserved: many(2, Capacity{VCPUs: 1, MemoryMiB: 256}),
		vms:      map[string]*instance{},
	}
	if err := m.admitCheck(Spec{VCPUs: 1, MemoryMiB: 256}, 6); err != nil {
		t.Fatalf("6 clones with 6 vCPUs left: %v", err)
	}
	err := m.admitCheck(Spec{VCPUs: 1, MemoryMiB: 256}, 7)
	if !errors.Is(err, errdefs.ErrResourceExhausted) || !strings.Contains(err.Error(), "7 clones of 1 vCPUs and 256 MiB each") {
		t.Fatalf("7 clones with 6 vCPUs left: %v; want a refusal naming the fan-out", err)
	}
	if len(m.reserved) != 2 {
		t.Fatalf("admitCheck reserved something: %d reservations", len(m.reserved))
	}
}
