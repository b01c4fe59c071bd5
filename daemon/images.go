package daemon

import (
	"fmt"
	"os"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/sandbox"
)

// openImages opens the OCI image store under the images directory and
// the engine's image resource over it.
func (d *Daemon) openImages() error {
	var keys []string
	for _, p := range d.cfg.ImageTrustedKeys {
		b, err := os.ReadFile(p)
		if err != nil {
			return errdefs.Invalid("image_trusted_keys: reading %s: %v", p, err)
		}
		keys = append(keys, string(b))
	}
	st, err := oci.Open(oci.Config{
		Dir: d.cfg.Images(), ImportDirs: d.cfg.ImageImportDirs, TrustedKeys: keys, Logger: d.log,
		// InUse is wired to the engine once sandboxes record the image
		// they run; until then nothing refuses a delete.
	})
	if err != nil {
		return fmt.Errorf("opening the image store: %w", err)
	}
	d.images = st
	d.imageAPI = sandbox.NewImageService(st, d.bus, d.log)
	return nil
}

// Images is the daemon's OCI image store (nil before New returns).
func (d *Daemon) Images() *oci.Store { return d.images }
