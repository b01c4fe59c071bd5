package rootfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/kestrel/client"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		cmdline string
		want    Config
		ok      bool
		err     bool
	}{
		{"console=ttyS0 volant.hostname=x", Config{}, false, false},
		{"volant.root=volant-image volant.rootrw=volant-rootrw tsc=reliable", Config{ImageSerial: "volant-image", RWSerial: "volant-rootrw"}, true, false},
		{"volant.root=volant-image", Config{}, false, true},
		{"volant.root=../x volant.rootrw=y", Config{}, false, true},
	}
	for _, tt := range tests {
		got, ok, err := ParseCmdline(tt.cmdline)
		if (err != nil) != tt.err || ok != tt.ok {
			t.Errorf("ParseCmdline(%q) = ok %v, err %v; want ok %v, error %v", tt.cmdline, ok, err, tt.ok, tt.err)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("ParseCmdline(%q) = %+v, want %+v", tt.cmdline, got, tt.want)
		}
	}
}

func TestFindSerial(t *testing.T) {
	dir := t.TempDir()
	for dev, serial := range map[string]string{"vda": "volant-image", "vdb": "volant-rootrw\n", "vdc": ""} {
		if err := os.MkdirAll(filepath.Join(dir, dev), 0o755); err != nil {
			t.Fatal(err)
		}
		if serial != "" {
			if err := os.WriteFile(filepath.Join(dir, dev, "serial"), []byte(serial), 0o444); err != nil {
				t.Fatal(err)
			}
		}
	}
	for serial, want := range map[string]string{"volant-image": "vda", "volant-rootrw": "vdb"} {
		if got, err := FindSerial(dir, serial); err != nil || got != want {
			t.Errorf("FindSerial(%q) = %q, %v; want %q", serial, got, err, want)
		}
	}
	if _, err := FindSerial(dir, "missing"); err == nil {
		t.Error("FindSerial of a missing serial: no error")
	}
}

func TestApplyDefaults(t *testing.T) {
	SetDefaults(Defaults{Env: []string{"PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"}, WorkingDir: "/app", User: "app:app"})
	t.Cleanup(func() { SetDefaults(Defaults{}) })
	tests := []struct {
		name string
		req  client.ExecRequest
		want client.ExecRequest
	}{{
		name: "empty request takes every default",
		req:  client.ExecRequest{Argv: []string{"python3"}},
		want: client.ExecRequest{Argv: []string{"python3"}, Env: []string{"PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"}, Cwd: "/app", User: "app:app"},
	}, {
		name: "the request's own win",
		req:  client.ExecRequest{Argv: []string{"id"}, Env: []string{"LANG=fr_FR"}, Cwd: "/", User: "root"},
		want: client.ExecRequest{Argv: []string{"id"}, Env: []string{"PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8", "LANG=fr_FR"}, Cwd: "/", User: "root"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Apply(tt.req)); diff != "" {
				t.Errorf("Apply (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	tests := []struct {
		cfg client.ImageConfig
		ok  bool
	}{
		{client.ImageConfig{Env: []string{"A=1", "B="}, WorkingDir: "/w", User: "1000:1000"}, true},
		{client.ImageConfig{Env: []string{"NOEQUALS"}}, false},
		{client.ImageConfig{Env: []string{"=x"}}, false},
		{client.ImageConfig{WorkingDir: "relative"}, false},
	}
	for _, tt := range tests {
		if err := checkConfig(tt.cfg); (err == nil) != tt.ok {
			t.Errorf("checkConfig(%+v) = %v, want ok %v", tt.cfg, err, tt.ok)
		}
	}
}
