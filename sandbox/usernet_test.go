package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

// noTaps is a bridge network for rules that only ask whether there is one.
type noTaps struct{}

func (noTaps) CreateTap(context.Context, string) error    { return nil }
func (noTaps) DeleteTap(context.Context, string) error    { return nil }
func (noTaps) ListTaps(context.Context) ([]string, error) { return nil, nil }

// TestUserNetOnABridgeDaemonNeedsTheOperator: a user-mode guest bypasses
// the bridge's firewall and reaches the host's loopback, so a daemon with a
// bridge refuses it unless the operator allows it or made it the default.
func TestUserNetOnABridgeDaemonNeedsTheOperator(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		mode    NetworkMode
		refused bool
	}{
		{"bridge daemon refuses user", Config{Driver: withUserNet, Network: noTaps{}}, NetworkUser, true},
		{"bridge daemon takes bridge", Config{Driver: withUserNet, Network: noTaps{}}, NetworkBridge, false},
		{"bridge daemon takes none", Config{Driver: withUserNet, Network: noTaps{}}, NetworkNone, false},
		{"operator allows user", Config{Driver: withUserNet, Network: noTaps{}, AllowUserNetwork: true}, NetworkUser, false},
		{"user is the default", Config{Driver: withUserNet, Network: noTaps{}, Defaults: Defaults{Network: NetworkUser}}, NetworkUser, false},
		{"no bridge: user is the only network", Config{Driver: withUserNet}, NetworkUser, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Manager{cfg: tt.cfg}).checkUserNet(tt.mode)
			if !tt.refused {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "allow_user_network") ||
				!strings.Contains(err.Error(), "loopback") {
				t.Errorf("got %v, want an invalid argument naming allow_user_network and why", err)
			}
		})
	}
}
