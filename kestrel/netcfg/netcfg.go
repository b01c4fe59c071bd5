// Package netcfg configures the guest's network: it parses the volant.*
// parameters of the kernel command line (pure, tested) and applies an
// address, MAC, default route and resolvers with netlink.
package netcfg

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// Config is the guest's network identity. Zero fields are left alone.
type Config struct {
	// Link is the interface to configure; empty means "eth0".
	Link     string
	Addr     netip.Prefix
	Gateway  netip.Addr
	MAC      net.HardwareAddr
	Hostname string
	DNS      []netip.Addr
}

// ParseCmdline reads volant.ip=ADDR/BITS, volant.gw=ADDR, volant.mac=MAC,
// volant.hostname=NAME, volant.dns=ADDR[,ADDR...] and volant.link=IFACE
// from a kernel command line; other parameters are ignored.
func ParseCmdline(cmdline string) (Config, error) {
	var cfg Config
	for _, field := range strings.Fields(cmdline) {
		key, val, ok := strings.Cut(field, "=")
		if !ok || !strings.HasPrefix(key, "volant.") {
			continue
		}
		var err error
		switch key {
		case "volant.ip":
			cfg.Addr, err = ParseAddr(val)
		case "volant.gw":
			cfg.Gateway, err = parseIP(val, key)
		case "volant.mac":
			cfg.MAC, err = ParseMAC(val)
		case "volant.hostname":
			err = CheckHostname(val)
			cfg.Hostname = val
		case "volant.link":
			cfg.Link = val
		case "volant.dns":
			for _, s := range strings.Split(val, ",") {
				if s == "" {
					continue
				}
				a, perr := parseIP(s, key)
				if perr != nil {
					err = perr
					break
				}
				cfg.DNS = append(cfg.DNS, a)
			}
		}
		if err != nil {
			return Config{}, err
		}
	}
	return cfg, nil
}

// ParseAddr parses "10.0.0.5/24", keeping the host bits.
func ParseAddr(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errdefs.Invalid("address %q: want ADDR/BITS, for example 10.0.0.5/24", s)
	}
	return p, nil
}

// ParseMAC parses a 48-bit MAC address such as 02:00:00:00:00:01.
func ParseMAC(s string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		return nil, errdefs.Invalid("MAC %q: want six hex bytes, for example 02:00:00:00:00:01", s)
	}
	return m, nil
}

func parseIP(s, what string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errdefs.Invalid("%s %q is not an IP address", what, s)
	}
	return a, nil
}

// CheckHostname accepts an RFC 1123 host name of up to 64 characters.
func CheckHostname(s string) error {
	if s == "" || len(s) > 64 {
		return errdefs.Invalid("hostname %q must be 1 to 64 characters", s)
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return errdefs.Invalid("hostname %q: labels must not be empty or start or end with '-'", s)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return errdefs.Invalid("hostname %q: only letters, digits, '-' and '.' are allowed", s)
			}
		}
	}
	return nil
}

// ResolvConf renders /etc/resolv.conf for the given servers.
func ResolvConf(dns []netip.Addr) string {
	var b strings.Builder
	b.WriteString("# written by kestrel\n")
	for _, a := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	return b.String()
}

// WriteResolvConf writes the resolvers to path (normally /etc/resolv.conf).
func WriteResolvConf(path string, dns []netip.Addr) error {
	if err := os.WriteFile(path, []byte(ResolvConf(dns)), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
