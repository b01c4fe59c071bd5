package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// blobs keeps artifact files content-addressed: dir/<sha256>. A file is
// written to a temporary name, verified, and renamed into place, so a
// blob's name always matches its bytes unless something else changes it.
type blobs struct{ dir string }

// tmpPrefix starts the names of files being written.
const tmpPrefix = ".tmp-"

func (b blobs) path(sum string) string { return filepath.Join(b.dir, sum) }

// digestMismatch is put's error when the bytes are not what was expected.
type digestMismatch struct{ want, got string }

func (e *digestMismatch) Error() string {
	return fmt.Sprintf("sha256 is %s, not %s", e.got, e.want)
}

// put stores what r yields, failing with *digestMismatch when want is set
// and the bytes' sha256 differs. It returns the digest and size, and
// whether the blob is new (did not exist before).
func (b blobs) put(ctx context.Context, r io.Reader, want string) (sum string, size int64, created bool, err error) {
	tmp, err := os.CreateTemp(b.dir, tmpPrefix+"*")
	if err != nil {
		return "", 0, false, fmt.Errorf("creating a file in %s: %w", b.dir, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		return "", 0, false, err
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if want != "" && sum != want {
		return "", 0, false, &digestMismatch{want: want, got: sum}
	}
	if err = tmp.Sync(); err != nil {
		return "", 0, false, fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return "", 0, false, fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	_, statErr := os.Stat(b.path(sum))
	created = errors.Is(statErr, fs.ErrNotExist)
	// Rename even over an existing blob: the new copy is verified.
	if err = os.Rename(tmp.Name(), b.path(sum)); err != nil {
		return "", 0, false, fmt.Errorf("storing blob %s: %w", sum, err)
	}
	return sum, size, created, nil
}

// verify hashes the blob sum and returns its size, or a problem that says
// what is wrong with it.
func (b blobs) verify(ctx context.Context, sum string) (int64, error) {
	f, err := os.Open(b.path(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("its file %s is missing", b.path(sum))
	}
	if err != nil {
		return 0, fmt.Errorf("its file cannot be read: %v", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return 0, fmt.Errorf("its file %s cannot be read: %v", b.path(sum), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return 0, fmt.Errorf("its file %s is corrupt (sha256 %s)", b.path(sum), got)
	}
	return n, nil
}

// remove deletes the blob sum; a missing one is not an error.
func (b blobs) remove(sum string) error {
	err := os.Remove(b.path(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// list returns the digests of the stored blobs and the names of files
// left half-written.
func (b blobs) list() (sums, temps []string, err error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), tmpPrefix):
			temps = append(temps, e.Name())
		case isDigest(e.Name()):
			sums = append(sums, e.Name())
		}
	}
	return sums, temps, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
