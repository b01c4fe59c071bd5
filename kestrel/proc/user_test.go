package proc

import "testing"

// An OCI image config's User may be "user:group".
func TestLookupUserGroup(t *testing.T) {
	tests := []struct {
		spec     string
		uid, gid uint32
		ok       bool
	}{
		{"root:5", 0, 5, true},
		{"0:0", 0, 0, true},
		{"4321:99", 4321, 99, true},
		{"4321", 4321, 4321, true},
		{"root:no-such-group-here", 0, 0, false},
	}
	for _, tt := range tests {
		_, cred, err := lookupUser(tt.spec)
		if (err == nil) != tt.ok {
			t.Errorf("lookupUser(%q) error %v, want ok %v", tt.spec, err, tt.ok)
			continue
		}
		if err != nil {
			continue
		}
		if cred == nil || cred.Uid != tt.uid || cred.Gid != tt.gid {
			t.Errorf("lookupUser(%q) = %+v, want uid %d gid %d", tt.spec, cred, tt.uid, tt.gid)
		}
	}
}
