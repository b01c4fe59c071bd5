package daemon

import (
	"strings"
	"testing"

	"github.com/volant-sh/volant/sandbox"
)

func TestEgressConfigValidate(t *testing.T) {
	deny := &sandbox.EgressPolicy{Default: "deny"}
	for _, tc := range []struct {
		name   string
		cfg    EgressConfig
		bridge bool
		want   string
	}{
		{"off", EgressConfig{}, false, ""},
		{"on", EgressConfig{Enabled: true, Ceiling: deny, Upstreams: []string{"192.0.2.53:53"}}, true, ""},
		{"ceiling without enforcement", EgressConfig{Ceiling: deny}, true, "needs egress enabled"},
		{"no bridge", EgressConfig{Enabled: true}, false, "bridge networking"},
		{"bad ceiling", EgressConfig{Enabled: true, Ceiling: &sandbox.EgressPolicy{Deny: []string{"a..b"}}}, true, "egress ceiling"},
		{"bad upstream", EgressConfig{Enabled: true, Upstreams: []string{"dns.example"}}, true, "addr:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.validate(tc.bridge)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("validate = %v, want %q", err, tc.want)
			}
		})
	}
	if got := (EgressConfig{}).proxyPort(); got != 3129 {
		t.Errorf("default proxy port %d", got)
	}
}
