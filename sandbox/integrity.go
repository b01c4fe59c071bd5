package sandbox

import (
	"os"
	"path/filepath"

	"github.com/volant-sh/volant/internal/filehash"

	"github.com/volant-sh/volant/errdefs"
)

// Snapshot seals: the size of every file a snapshot wrote, and the
// SHA-256 of the small ones (device state, manifests), recorded in its
// manifest and checked before a restore, so a damaged snapshot (a memory
// file cut short, device state overwritten) is refused with what is wrong
// instead of a VMM that fails or a guest that crashes after it resumed.
// Large files (guest memory) are checked by size only: hashing them on
// every restore would cost more than the restore.

// sealHashMax is the largest file whose digest is sealed.
const sealHashMax = 4 << 20

// fileSeal is what a snapshot file must still be.
type fileSeal struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

// sealFiles seals files (relative to dir).
func sealFiles(dir string, files []string) (map[string]fileSeal, error) {
	seals := make(map[string]fileSeal, len(files))
	for _, name := range files {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			continue
		}
		s := fileSeal{Size: st.Size()}
		if st.Size() <= sealHashMax {
			if s.SHA256, err = filehash.SHA256(p); err != nil {
				return nil, err
			}
		}
		seals[name] = s
	}
	return seals, nil
}

// checkSeals refuses snapshot id when a sealed file in dir is missing or
// changed. A snapshot without seals (from an older daemon) passes.
func checkSeals(id, dir string, seals map[string]fileSeal) error {
	for name, s := range seals {
		damaged := func(what string, args ...any) error {
			return errdefs.WithRemedy(errdefs.Invalid("snapshot %s is damaged: its file %s "+what+"; it cannot be restored, delete it (and take a new one)",
				append([]any{id, name}, args...)...), errdefs.OpSnapshotDelete, "id", id)
		}
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil {
			return damaged("is missing (%v)", err)
		}
		if st.Size() != s.Size {
			return damaged("is %d bytes, it was written with %d", st.Size(), s.Size)
		}
		if s.SHA256 != "" {
			d, err := filehash.SHA256(p)
			if err != nil {
				return damaged("cannot be read (%v)", err)
			}
			if d != s.SHA256 {
				return damaged("does not have the content it was written with")
			}
		}
	}
	return nil
}
