package netcfg

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string
		want    Config
		wantErr bool
	}{
		{name: "none", cmdline: "console=ttyS0 quiet panic=-1", want: Config{}},
		{
			name:    "all",
			cmdline: "console=ttyS0 volant.ip=10.0.0.5/24 volant.gw=10.0.0.1 volant.hostname=sbx-1 volant.dns=1.1.1.1,9.9.9.9 volant.mac=02:00:0a:00:00:05 volant.link=eth1 rw",
			want: Config{
				Link:     "eth1",
				Addr:     netip.MustParsePrefix("10.0.0.5/24"),
				Gateway:  netip.MustParseAddr("10.0.0.1"),
				MAC:      net.HardwareAddr{2, 0, 0x0a, 0, 0, 5},
				Hostname: "sbx-1",
				DNS:      []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("9.9.9.9")},
			},
		},
		{name: "ipv6", cmdline: "volant.ip=fd00::5/64 volant.gw=fd00::1", want: Config{Addr: netip.MustParsePrefix("fd00::5/64"), Gateway: netip.MustParseAddr("fd00::1")}},
		{name: "unknown volant key ignored", cmdline: "volant.future=1", want: Config{}},
		{name: "address without bits", cmdline: "volant.ip=10.0.0.5", wantErr: true},
		{name: "bad gateway", cmdline: "volant.gw=gateway", wantErr: true},
		{name: "bad dns", cmdline: "volant.dns=1.1.1.1,nope", wantErr: true},
		{name: "bad hostname", cmdline: "volant.hostname=-bad", wantErr: true},
		{name: "bad mac", cmdline: "volant.mac=02:00", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCmdline(tt.cmdline)
			if tt.wantErr {
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("error = %v, want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolvConf(t *testing.T) {
	got := ResolvConf([]netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")})
	want := "# written by kestrel\nnameserver 10.0.0.1\nnameserver fd00::1\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
