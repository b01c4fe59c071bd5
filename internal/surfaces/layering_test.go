package surfaces_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEngineNamesNoRoute keeps the engine free of surfaces: no REST route
// in sandbox/ or plugins/ (errors carry remedies, which each surface
// renders), and no regexp in mcp/ to rewrite messages.
func TestEngineNamesNoRoute(t *testing.T) {
	for _, dir := range []string{"../../sandbox", "../../plugins"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "/v1/") {
					t.Errorf("%s:%d names a REST route: %s", path, i+1, strings.TrimSpace(line))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	pkgs, err := parser.ParseDir(token.NewFileSet(), "../../mcp", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		for name, f := range p.Files {
			for _, imp := range f.Imports {
				if path, _ := strconv.Unquote(imp.Path.Value); path == "regexp" && !strings.HasSuffix(name, "_test.go") {
					t.Errorf("%s imports regexp; render remedies (mcp/remedy.go) instead of rewriting messages", name)
				}
			}
		}
	}
}
