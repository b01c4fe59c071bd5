package files_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/volant-sh/volant/kestrel/client/clienttest"
	"github.com/volant-sh/volant/kestrel/files"
)

// A sysfs file says it is 4096 bytes long; it is read to its real end.
func TestReadPseudoFile(t *testing.T) {
	mux := http.NewServeMux()
	files.Register(mux)
	c := clienttest.Serve(t, mux).Client
	b, err := c.ReadFileAll(context.Background(), "/sys/class/net/lo/address", 64)
	if err != nil || len(b) == 0 {
		t.Fatalf("reading /sys/class/net/lo/address: %q, %v", b, err)
	}
	if b, err := c.ReadFileAll(context.Background(), "/proc/self/status", 1<<20); err != nil || !bytes.Contains(b, []byte("Name:")) {
		t.Fatalf("reading /proc/self/status: %.40q, %v", b, err)
	}
}
