package main

import (
	"fmt"
)

func cmdSystem(e *env, args []string) error {
	c := e.newCommand("volar system")
	_, api, err := c.open(e, args, 0, 0)
	if err != nil {
		return err
	}
	ctx, raw := e.rawContext()
	s, err := api.System(ctx)
	if err != nil {
		return err
	}
	if e.g.json {
		printJSON(e.stdout, *raw)
		return nil
	}
	t := newKV(e.stdout)
	t.row("version:", s.Version)
	t.row("driver:", s.Driver)
	accel := s.Accel
	if s.AccelReason != "" {
		accel += " (" + s.AccelReason + ")"
	}
	t.row("accel:", accel)
	if s.Image != "" {
		t.row("image:", s.Image)
	}
	if s.Kernel != "" {
		t.row("kernel:", s.Kernel)
	}
	t.row("sandboxes:", fmt.Sprint(s.Sandboxes))
	t.row("vcpus:", fmt.Sprintf("%d used of %d", s.Usage.VCPUs, s.Capacity.VCPUs))
	t.row("memory:", fmt.Sprintf("%d MiB configured of %d MiB", s.Usage.MemoryMiB, s.Capacity.MemoryMiB))
	if m := s.Measured; m.LimitMiB > 0 {
		t.row("measured:", fmt.Sprintf("%d MiB used of %d MiB (PSS of %d VMs %d MiB, %d starting %d MiB; headroom %d MiB)",
			m.UsedMiB(), m.LimitMiB, m.VMs, m.PSSMiB, m.InFlight, m.InFlightMiB, s.Host.HeadroomMiB))
	}
	t.flush()
	return nil
}
