package egress

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/errdefs"
)

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want string // substring of the error; "" means valid
	}{
		{Policy{}, ""},
		{Policy{Default: Deny, Allow: []string{"pypi.org", "*.githubusercontent.com", "203.0.113.0/24", "198.51.100.7"}}, ""},
		{Policy{Default: "block"}, `use "deny" or "allow"`},
		{Policy{Allow: []string{""}}, "empty rule"},
		{Policy{Allow: []string{"a..b"}}, "labels are 1-63"},
		{Policy{Allow: []string{"*"}}, "not allowed in a name"},
		{Policy{Allow: []string{"foo.*.com"}}, "not allowed in a name"},
		{Policy{Deny: []string{"203.0.113.1/24"}}, "host bits set; use 203.0.113.0/24"},
		{Policy{Deny: []string{"2001:db8::/32"}}, "IPv6 is not supported"},
		{Policy{Deny: []string{"10.0.0.0/33"}}, "not a CIDR"},
		{Policy{Allow: []string{"exa mple.com"}}, "not allowed in a name"},
	} {
		err := tc.p.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v, want valid", tc.p, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want an error with %q", tc.p, err, tc.want)
		case tc.want != "" && !errors.Is(err, errdefs.ErrInvalidArgument):
			t.Errorf("%+v: %v is not ErrInvalidArgument", tc.p, err)
		}
	}
}

func TestRulesMatch(t *testing.T) {
	p := Policy{Default: Deny, Allow: []string{"pypi.org", "*.github.com", "203.0.113.0/24"}, Deny: []string{"evil.github.com", "203.0.113.66"}}
	r := MustCompile(p)
	names := map[string]bool{
		"pypi.org": true, "PyPI.org.": true, "files.pypi.org": false,
		"api.github.com": true, "a.b.github.com": true, "github.com": false, "evil.github.com": false,
		"notgithub.com": false, "example.com": false, "": false,
	}
	for n, want := range names {
		if got := r.AllowName(n); got != want {
			t.Errorf("AllowName(%q) = %v, want %v", n, got, want)
		}
	}
	addrs := map[string]bool{"203.0.113.5": true, "203.0.113.66": false, "198.51.100.1": false}
	for a, want := range addrs {
		if got := r.AllowAddr(netip.MustParseAddr(a)); got != want {
			t.Errorf("AllowAddr(%s) = %v, want %v", a, got, want)
		}
	}
	open := MustCompile(Policy{Deny: []string{"ads.example"}})
	if !open.AllowName("anything.test") || open.AllowName("ads.example") || !open.AllowAddr(netip.MustParseAddr("192.0.2.1")) {
		t.Error("default allow with a deny rule")
	}
}

// TestCeiling pins down the merge with the operator's ceiling: a
// connection passes only when both the sandbox's policy and the ceiling let
// it pass, so a sandbox can narrow but never widen what the operator allows.
func TestCeiling(t *testing.T) {
	ceiling := &Policy{Default: Allow, Deny: []string{"*.internal.corp", "10.0.0.0/8", "metadata.cloud"}}
	onlyPyPI := &Policy{Default: Deny, Allow: []string{"pypi.org", "*.pythonhosted.org", "192.0.2.0/24"}}
	for _, tc := range []struct {
		name    string
		sandbox Policy
		ceil    *Policy
		names   map[string]bool
		addrs   map[string]bool
	}{
		{
			name: "open sandbox under a deny-list ceiling", sandbox: Policy{Default: Allow}, ceil: ceiling,
			names: map[string]bool{"example.com": true, "db.internal.corp": false, "metadata.cloud": false},
			addrs: map[string]bool{"192.0.2.1": true, "10.1.2.3": false},
		},
		{
			name: "sandbox allow cannot reopen what the ceiling denies", sandbox: Policy{Default: Deny, Allow: []string{"db.internal.corp", "10.0.0.0/8"}}, ceil: ceiling,
			names: map[string]bool{"db.internal.corp": false, "example.com": false},
			addrs: map[string]bool{"10.1.2.3": false},
		},
		{
			name: "allow-list ceiling bounds an open sandbox", sandbox: Policy{}, ceil: onlyPyPI,
			names: map[string]bool{"pypi.org": true, "files.pythonhosted.org": true, "example.com": false},
			addrs: map[string]bool{"192.0.2.9": true, "198.51.100.1": false},
		},
		{
			name: "sandbox narrows inside the ceiling", sandbox: Policy{Default: Deny, Allow: []string{"pypi.org"}}, ceil: onlyPyPI,
			names: map[string]bool{"pypi.org": true, "files.pythonhosted.org": false},
			addrs: map[string]bool{"192.0.2.9": false},
		},
		{
			name: "no ceiling", sandbox: Policy{Default: Deny, Allow: []string{"x.test"}}, ceil: nil,
			names: map[string]bool{"x.test": true, "y.test": false},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Compile(tc.sandbox, tc.ceil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for n := range tc.names {
				got[n] = r.AllowName(n)
			}
			if diff := cmp.Diff(tc.names, got); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			gotA := map[string]bool{}
			for a := range tc.addrs {
				gotA[a] = r.AllowAddr(netip.MustParseAddr(a))
			}
			if len(tc.addrs) > 0 {
				if diff := cmp.Diff(tc.addrs, gotA); diff != "" {
					t.Errorf("addrs (-want +got):\n%s", diff)
				}
			}
		})
	}
	if _, err := Compile(Policy{}, &Policy{Default: "x"}); err == nil || !strings.Contains(err.Error(), "operator egress ceiling") {
		t.Errorf("bad ceiling: %v", err)
	}
}

func TestNormalize(t *testing.T) {
	got := Policy{Allow: []string{"B.test.", "a.test", "b.test"}}.Normalize()
	want := Policy{Default: Allow, Allow: []string{"a.test", "b.test"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}

func TestSecretString(t *testing.T) {
	s := Secret{Placeholder: "volant-secret-x", Value: "hunter2", Hosts: []string{"a.test"}}
	for _, f := range []string{s.String()} {
		if strings.Contains(f, "hunter2") {
			t.Fatal("String shows the value")
		}
	}
	if !s.matchesHost("a.test") || s.matchesHost("b.test") {
		t.Fatal("matchesHost exact")
	}
	g := Secret{Hosts: []string{"*.openai.com"}}
	if !g.matchesHost("api.openai.com") || g.matchesHost("openai.com") || g.matchesHost("xopenai.com") {
		t.Fatal("matchesHost glob")
	}
}
