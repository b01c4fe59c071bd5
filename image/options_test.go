package image

import (
	"errors"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"minimal", Options{Dir: "/var/lib/volant/images", KestrelPath: "/usr/libexec/kestrel"}, true},
		{"gzip", Options{Dir: "/x", KestrelPath: "/k", Compression: CompressGzip}, true},
		{"no dir", Options{KestrelPath: "/k"}, false},
		{"relative dir", Options{Dir: "images", KestrelPath: "/k"}, false},
		{"no kestrel", Options{Dir: "/x"}, false},
		{"bad compression", Options{Dir: "/x", KestrelPath: "/k", Compression: "zstd"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("Validate() = %v, want ErrInvalidArgument", err)
			}
		})
	}
}
