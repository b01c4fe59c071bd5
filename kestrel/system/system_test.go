package system

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/netcfg"
)

func TestParseReconfigure(t *testing.T) {
	tests := []struct {
		name    string
		req     client.ReconfigureRequest
		want    Plan
		wantErr bool
	}{
		{name: "empty", req: client.ReconfigureRequest{}, want: Plan{}},
		{
			name: "all",
			req: client.ReconfigureRequest{
				IPCIDR: "10.0.0.9/24", Gateway: "10.0.0.1", MAC: "02:00:00:00:00:09",
				Hostname: "clone-9", DNS: []string{"10.0.0.1"}, TimeUnixNS: 1700000000123456789, Entropy: []byte{1, 2, 3},
			},
			want: Plan{
				Net: netcfg.Config{
					Addr: netip.MustParsePrefix("10.0.0.9/24"), Gateway: netip.MustParseAddr("10.0.0.1"),
					MAC: net.HardwareAddr{2, 0, 0, 0, 0, 9}, Hostname: "clone-9", DNS: []netip.Addr{netip.MustParseAddr("10.0.0.1")},
				},
				Time:    time.Unix(0, 1700000000123456789),
				Entropy: []byte{1, 2, 3},
			},
		},
		{name: "bad cidr", req: client.ReconfigureRequest{IPCIDR: "10.0.0.9"}, wantErr: true},
		{name: "bad gateway", req: client.ReconfigureRequest{Gateway: "x"}, wantErr: true},
		{name: "bad mac", req: client.ReconfigureRequest{MAC: "zz"}, wantErr: true},
		{name: "bad hostname", req: client.ReconfigureRequest{Hostname: "a_b"}, wantErr: true},
		{name: "bad dns", req: client.ReconfigureRequest{DNS: []string{"1.1.1.1,2.2.2.2"}}, wantErr: true},
		{name: "negative time", req: client.ReconfigureRequest{TimeUnixNS: -1}, wantErr: true},
		{name: "too much entropy", req: client.ReconfigureRequest{Entropy: make([]byte, 5000)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReconfigure(tt.req)
			if tt.wantErr {
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("error = %v, want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			opts := cmp.Options{cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })}
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadHealth(t *testing.T) {
	h := ReadHealth("test")
	if h.Version != "test" || h.Kernel == "" || h.MemTotal == 0 || h.MemAvailable == 0 || h.Procs == 0 || h.UptimeS <= 0 {
		t.Errorf("health = %+v, want every field filled", h)
	}
}
