package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// blobs is the content-addressed store every image shares: one file per
// sha256 digest under dir/sha256/, written under a temporary name, checked
// against its digest and size, and renamed into place, so a blob that is
// there is whole and right.
type blobs struct {
	dir string
}

func (b blobs) path(digest string) (string, error) {
	hexd, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexd) != 64 || strings.Trim(hexd, "0123456789abcdef") != "" {
		return "", errdefs.Invalid("digest %q: want sha256:<64 hex digits>", digest)
	}
	return filepath.Join(b.dir, "sha256", hexd), nil
}

// has reports whether the blob is stored with that size (size < 0: any).
func (b blobs) has(digest string, size int64) bool {
	p, err := b.path(digest)
	if err != nil {
		return false
	}
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && (size < 0 || st.Size() == size)
}

// put stores the blob read from r, which must hash to digest and be size
// bytes long (size < 0: any length up to limit). onBytes, when set, is
// called with each chunk's length. A blob already stored is not read
// again; put reports whether it wrote a new one.
func (b blobs) put(digest string, size, limit int64, r io.Reader, onBytes func(int64)) (bool, error) {
	p, err := b.path(digest)
	if err != nil {
		return false, err
	}
	if b.has(digest, size) {
		return false, nil
	}
	if size > limit {
		return false, errdefs.Exhausted("blob %s is %d MiB, more than the %d MiB a blob may be on this daemon", digest, size>>20, limit>>20)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return false, err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return false, err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	h := sha256.New()
	max := limit
	if size >= 0 {
		max = size
	}
	n, err := io.Copy(io.MultiWriter(f, h, countWriter(onBytes)), io.LimitReader(r, max+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("fetching blob %s: %w", digest, err)
	}
	switch got := "sha256:" + hex.EncodeToString(h.Sum(nil)); {
	case n > max && size < 0:
		return false, errdefs.Exhausted("blob %s is more than the %d MiB a blob may be on this daemon", digest, limit>>20)
	case size >= 0 && n != size:
		return false, errdefs.Invalid("blob %s: got %d bytes, want %d: the source served a truncated or altered blob", digest, n, size)
	case got != digest:
		return false, errdefs.Invalid("blob %s: its content hashes to %s: the source served a corrupt or altered blob", digest, got)
	}
	if err := os.Rename(tmp, p); err != nil {
		return false, err
	}
	return true, nil
}

// open opens a stored blob; reading it to the end checks its digest
// again, so a blob altered on disk is noticed.
func (b blobs) open(digest string) (io.ReadCloser, error) {
	p, err := b.path(digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound("blob %s is not in the image store", digest)
	}
	if err != nil {
		return nil, err
	}
	return &verifyReader{f: f, h: sha256.New(), want: digest}, nil
}

// remove deletes a blob; a missing one is no error.
func (b blobs) remove(digest string) error {
	p, err := b.path(digest)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// list returns the digests of every stored blob.
func (b blobs) list() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(b.dir, "sha256"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, "sha256:"+e.Name())
		}
	}
	return out, nil
}

type verifyReader struct {
	f    *os.File
	h    hash.Hash
	want string
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if got := "sha256:" + hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, fmt.Errorf("blob %s in the image store hashes to %s: the store is damaged; delete the image and pull it again", v.want, got)
		}
	}
	return n, err
}

func (v *verifyReader) Close() error { return v.f.Close() }

type countWriter func(int64)

func (c countWriter) Write(p []byte) (int, error) {
	if c != nil {
		c(int64(len(p)))
	}
	return len(p), nil
}
