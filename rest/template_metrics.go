package rest

import (
	"context"
	"fmt"
	"io"
)

// writeTemplateMetrics writes what template snapshots, template builders
// and warm guests hold (sandbox.TemplateUsage), from the engine's System.
func (s *server) writeTemplateMetrics(ctx context.Context, w io.Writer) {
	info, err := s.eng.System(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "reading the engine's template usage for metrics", "err", err)
		return
	}
	t := info.Templates
	gauges := []struct {
		name, help string
		v          int64
	}{
		{"volant_templates", "Template snapshots on disk.", int64(t.Templates)},
		{"volant_templates_max", "Template snapshots kept at most.", int64(t.MaxTemplates)},
		{"volant_template_disk_bytes", "Disk taken by template snapshots.", t.DiskBytes},
		{"volant_template_disk_max_bytes", "Disk template snapshots may take together.", t.MaxDiskBytes},
		{"volant_template_builders", "Template builder VMs running.", int64(t.Building)},
		{"volant_template_builder_vcpus", "vCPUs held by template builders.", int64(t.BuildUsage.VCPUs)},
		{"volant_template_builder_memory_mib", "Memory held by template builders, in MiB.", int64(t.BuildUsage.MemoryMiB)},
		{"volant_warm_guests", "Warm-pool guests, ready or being restored.", int64(t.WarmGuests)},
		{"volant_warm_guest_vcpus", "vCPUs held by warm-pool guests.", int64(t.WarmUsage.VCPUs)},
		{"volant_warm_guest_memory_mib", "Memory held by warm-pool guests, in MiB.", int64(t.WarmUsage.MemoryMiB)},
	}
	for _, g := range gauges {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", g.name, g.help, g.name, g.name, g.v)
	}
}
