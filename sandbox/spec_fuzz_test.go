package sandbox_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// FuzzSpecValidate: any create request (names, runtime, sizes, env, labels,
// durations) is valid or an invalid-argument error, never a panic.
// Validation itself is sandbox's; this only calls it.
func FuzzSpecValidate(f *testing.F) {
	f.Add([]byte(`{"name":"web-1","vcpus":2,"memory_mib":512,"env":{"A":"b"},"labels":{"team":"x"}}`))
	f.Add([]byte(`{"name":"../../etc","runtime":"UPPER","disk_mib":-1,"ttl_s":9223372036854775807}`))
	f.Add([]byte(`{"idle_timeout_s":9223372036854775807,"network":"user","env":{"":"x","A=B":"c"}}`))
	limits := sandbox.Limits{MaxVCPUs: 16, MaxMemoryMiB: 64 * 1024, MaxDiskMiB: 1024 * 1024, MaxTTL: 30 * 24 * 3600}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var s sandbox.Spec
		if json.Unmarshal(raw, &s) != nil {
			return
		}
		if err := s.Validate(limits); err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Fatalf("Validate(%s) error is not invalid-argument: %v", raw, err)
		}
	})
}
