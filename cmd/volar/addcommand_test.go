package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestAddCommand(t *testing.T) {
	old := added
	t.Cleanup(func() { added = old })
	addCommand("  hello NAME                     greet\n", func(e *env, args []string) error {
		_, err := e.stdout.Write([]byte("hello " + strings.Join(args, " ") + "\n"))
		return err
	}, "hello", "hi")
	var out, errb bytes.Buffer
	if code := run([]string{"hi", "you"}, nil, &out, &errb); code != 0 || out.String() != "hello you\n" {
		t.Errorf("volar hi you: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	out.Reset()
	run([]string{"-h"}, nil, &out, &errb)
	if !strings.Contains(out.String(), "one JSON line each\n  hello NAME                     greet\n\nGlobal flags") {
		t.Errorf("usage lacks the added command:\n%s", out.String())
	}
}
