package daemon_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/volant-sh/volant/internal/testguest"
)

var (
	volarOnce sync.Once
	volarBin  string
	volarErr  error
)

// volar runs the CLI against d and returns its stdout; it fails the test
// when the exit code is not want.
func volar(t *testing.T, d *volantd, want int, stdin string, args ...string) string {
	t.Helper()
	volarOnce.Do(func() {
		volarBin = filepath.Join(testguest.CacheDir(), "volar-under-test")
		if out, err := exec.Command("go", "build", "-o", volarBin, "github.com/volant-sh/volant/cmd/volar").CombinedOutput(); err != nil {
			volarErr = err
			t.Logf("%s", out)
		}
	})
	if volarErr != nil {
		t.Fatal(volarErr)
	}
	cmd := exec.Command(volarBin, args...)
	cmd.Env = append(os.Environ(), "VOLANT_ADDR=http://"+d.addr, "VOLANT_TOKEN="+d.token)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != want {
		t.Fatalf("volar %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errb.String())
	}
	return out.String()
}

// TestVolarAgainstDaemon drives a real daemon with the CLI as a script would.
func TestVolarAgainstDaemon(t *testing.T) {
	d := newVolantd(t)
	d.start()
	id := strings.TrimSpace(volar(t, d, 0, "", "sandbox", "create", "-q", "--label", "team=cli"))
	if !strings.HasPrefix(id, "sbx-") {
		t.Fatalf("create -q printed %q, want an id", id)
	}
	if out := volar(t, d, 3, "", "exec", id, "--", "sh", "-c", "echo out; echo err >&2; exit 3"); out != "out\n" {
		t.Errorf("exec stdout %q", out)
	}
	volar(t, d, 3, "", "exec", id, "--", "sh", "-c", "exit 3")
	dir := t.TempDir()
	local := filepath.Join(dir, "note.txt")
	if err := os.WriteFile(local, []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	volar(t, d, 0, "", "cp", local, id+":/root/note.txt")
	if out := volar(t, d, 0, "", "cat", id+":/root/note.txt"); out != "from the host\n" {
		t.Errorf("cat after cp: %q", out)
	}
	volar(t, d, 0, "", "cp", id+":/root/note.txt", filepath.Join(dir, "back.txt"))
	if b, _ := os.ReadFile(filepath.Join(dir, "back.txt")); string(b) != "from the host\n" {
		t.Errorf("cp back: %q", b)
	}
	if out := volar(t, d, 0, "", "sandbox", "ls", "-q", "--label", "team=cli"); strings.TrimSpace(out) != id {
		t.Errorf("ls by label: %q", out)
	}
	snap := strings.TrimSpace(volar(t, d, 0, "", "sandbox", "snapshot", "-q", id))
	clone := strings.TrimSpace(volar(t, d, 0, "", "sandbox", "create", "-q", "--from-snapshot", snap))
	if out := volar(t, d, 0, "", "cat", clone+":/root/note.txt"); out != "from the host\n" {
		t.Errorf("the clone's copy of the file: %q", out)
	}
	volar(t, d, 0, "", "sandbox", "rm", clone, id)
	volar(t, d, 1, "", "sandbox", "get", id)
	volar(t, d, 0, "", "snapshot", "rm", snap)
}
