package workload

import (
	"testing"

	"github.com/volant-sh/volant/kestrel/client"
)

func TestSameSpec(t *testing.T) {
	base := client.WorkloadSpec{Command: []string{"srv", "-p", "80"}, Env: map[string]string{"A": "1"}, Port: 80, Health: "/h", Restart: "always"}
	mod := func(f func(*client.WorkloadSpec)) client.WorkloadSpec {
		s := base
		s.Command = append([]string(nil), base.Command...)
		s.Env = map[string]string{"A": "1"}
		f(&s)
		return s
	}
	tests := []struct {
		name string
		b    client.WorkloadSpec
		want bool
	}{
		{"identical", mod(func(*client.WorkloadSpec) {}), true},
		{"argument", mod(func(s *client.WorkloadSpec) { s.Command[2] = "81" }), false},
		{"env value", mod(func(s *client.WorkloadSpec) { s.Env["A"] = "2" }), false},
		{"env added", mod(func(s *client.WorkloadSpec) { s.Env["B"] = "" }), false},
		{"cwd", mod(func(s *client.WorkloadSpec) { s.Cwd = "/srv" }), false},
		{"port", mod(func(s *client.WorkloadSpec) { s.Port = 81 }), false},
		{"health", mod(func(s *client.WorkloadSpec) { s.Health = "/" }), false},
		{"restart", mod(func(s *client.WorkloadSpec) { s.Restart = "never" }), false},
	}
	for _, tt := range tests {
		if got := sameSpec(base, tt.b); got != tt.want {
			t.Errorf("%s: sameSpec = %v, want %v", tt.name, got, tt.want)
		}
	}
	noEnv := mod(func(s *client.WorkloadSpec) { s.Env = nil })
	if !sameSpec(noEnv, mod(func(s *client.WorkloadSpec) { s.Env = map[string]string{} })) {
		t.Error("nil and empty env differ, want the same spec")
	}
}

func TestExecRequestSortsEnv(t *testing.T) {
	req := execRequest(client.WorkloadSpec{Command: []string{"x"}, Env: map[string]string{"B": "2", "A": "1=1"}, Cwd: "/srv"})
	if got := req.Env; len(got) != 2 || got[0] != "A=1=1" || got[1] != "B=2" || req.Cwd != "/srv" || req.Argv[0] != "x" {
		t.Errorf("execRequest = %+v", req)
	}
}
