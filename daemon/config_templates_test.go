package daemon

import (
	"strings"
	"testing"
)

func TestConfigTemplateCaps(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no templates kept", func(c *Config) { c.MaxTemplates = 0 }, "max_templates 0"},
		{"too many", func(c *Config) { c.MaxTemplates = 5000 }, "max_templates 5000"},
		{"disk too small", func(c *Config) { c.TemplateDiskMiB = 10 }, "template_disk_mib 10"},
		{"disk set", func(c *Config) { c.TemplateDiskMiB = 4096 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			c.StateDir = t.TempDir()
			tt.mod(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}
