package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// loadLocked reads the records on disk, adding those not yet known: an
// image another process (volantd image build) stored appears without a
// restart.
func (s *Store) loadLocked() error {
	ents, err := os.ReadDir(s.recordDir())
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if _, ok := s.images["sha256:"+strings.TrimSuffix(e.Name(), ".json")]; ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.recordDir(), e.Name()))
		if err != nil {
			return err
		}
		var img Image
		if err := json.Unmarshal(b, &img); err != nil {
			s.log.Warn("skipping a damaged image record", "file", e.Name(), "err", err)
			continue
		}
		s.images[img.Digest] = &img
	}
	return nil
}

func (s *Store) recordPath(digest string) string {
	return filepath.Join(s.recordDir(), strings.TrimPrefix(digest, "sha256:")+".json")
}

// save records img, moving its names off any other image (a name points
// at one image; an image that loses its names stays, by digest).
func (s *Store) save(img *Image) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.images[img.Digest]; old != nil {
		img.Names = union(old.Names, img.Names)
		if img.SignedBy == "" {
			img.SignedBy = old.SignedBy
		}
		if img.IndexDigest == "" {
			img.IndexDigest = old.IndexDigest
		}
		img.CreatedAt = old.CreatedAt
	}
	for _, o := range s.images {
		if o.Digest == img.Digest {
			continue
		}
		if kept := minus(o.Names, img.Names); len(kept) != len(o.Names) {
			o.Names = kept
			if err := s.writeRecordLocked(o); err != nil {
				return err
			}
		}
	}
	s.images[img.Digest] = img
	return s.writeRecordLocked(img)
}

func (s *Store) writeRecordLocked(img *Image) error {
	b, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.recordDir(), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), s.recordPath(img.Digest))
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range append(append([]string{}, a...), b...) {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

func minus(a, b []string) []string {
	drop := map[string]bool{}
	for _, x := range b {
		drop[x] = true
	}
	out := []string{}
	for _, x := range a {
		if !drop[x] {
			out = append(out, x)
		}
	}
	return out
}
