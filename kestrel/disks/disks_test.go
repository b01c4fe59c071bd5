package disks

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		in      string
		want    []Mount
		wantErr bool
	}{
		{"console=ttyS0 volant.ip=10.0.0.2/24", nil, false},
		{"volant.disk=/dev/vda:/data", []Mount{{"/dev/vda", "/data"}}, false},
		{"volant.disk=/dev/vda:/data/ volant.disk=/dev/vdb:/srv", []Mount{{"/dev/vda", "/data"}, {"/dev/vdb", "/srv"}}, false},
		{"volant.disk=vda:/data", nil, true},
		{"volant.disk=/dev/vda:data", nil, true},
		{"volant.disk=/dev/vda:/", nil, true},
		{"volant.disk=/dev/vda", nil, true},
	}
	for _, tc := range tests {
		got, err := ParseCmdline(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseCmdline(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseCmdline(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}
