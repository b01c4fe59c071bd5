package hypervisor

import (
	"errors"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestValidateDiskSerial(t *testing.T) {
	base := Config{ID: "vm1", Dir: "/run/vm1", VCPUs: 1, MemoryMiB: 128, Kernel: "/k"}
	for serial, ok := range map[string]bool{
		"":                      true,
		"volant-image":          true,
		"a_b-C9":                true,
		"twenty-one-chars-long": false,
		"has,comma":             false,
		"has space":             false,
	} {
		c := base
		c.Disks = []Disk{{Path: "/img.ext4", Format: "raw", ReadOnly: true, Serial: serial}}
		err := c.Validate()
		if (err == nil) != ok || (err != nil && !errors.Is(err, errdefs.ErrInvalidArgument)) {
			t.Errorf("serial %q: Validate = %v, want ok %v", serial, err, ok)
		}
	}
}
