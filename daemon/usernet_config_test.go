package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAllowUserNetworkSetting: off by default, set by the config file or
// VOLANT_ALLOW_USER_NETWORK.
func TestAllowUserNetworkSetting(t *testing.T) {
	if Defaults().AllowUserNetwork {
		t.Error("allow_user_network is on by default")
	}
	c := Defaults()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(`{"allow_user_network": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadFile(p); err != nil || !c.AllowUserNetwork {
		t.Errorf("config file: %v, allow_user_network %v", err, c.AllowUserNetwork)
	}
	c = Defaults()
	t.Setenv("VOLANT_ALLOW_USER_NETWORK", "true")
	if err := c.LoadEnv(); err != nil || !c.AllowUserNetwork {
		t.Errorf("environment: %v, allow_user_network %v", err, c.AllowUserNetwork)
	}
}
