package image

import (
	"context"
	"debug/elf"
	"fmt"
	"os/exec"
	"path"
	"sort"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// checkStatic refuses a binary that is not a statically linked ELF
// executable: the initramfs has no dynamic loader or libc.
func checkStatic(what, p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return errdefs.Invalid("%s %s: not a readable ELF executable: %v", what, p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return errdefs.Invalid("%s %s is dynamically linked; the guest has no libc: use a static build (Debian's busybox-static; CGO_ENABLED=0 for Go)", what, p)
		}
	}
	if f.Machine != elf.EM_X86_64 {
		return errdefs.Invalid("%s %s is built for %s, the guest is x86-64", what, p, f.Machine)
	}
	return nil
}

// busyboxVersion returns busybox's version line, e.g. "v1.35.0 (Debian
// 1:1.35.0-4+deb12u1+b1)".
func busyboxVersion(ctx context.Context, bb string) (string, error) {
	// With no arguments busybox prints its usage and exits 1; the first
	// line still names the version.
	out, _ := exec.CommandContext(ctx, bb).Output()
	first, _, _ := strings.Cut(string(out), "\n")
	v, ok := strings.CutPrefix(first, "BusyBox ")
	if !ok {
		return "", errdefs.Invalid("%s does not look like busybox (first line %q)", bb, first)
	}
	return strings.TrimSuffix(v, " multi-call binary."), nil
}

// busyboxApplets returns the guest paths ("bin/ls", "usr/sbin/chroot") of
// the applets busybox was built with, sorted.
func busyboxApplets(ctx context.Context, bb string) ([]string, error) {
	out, err := exec.CommandContext(ctx, bb, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list-full: %w", bb, cmdErr(err))
	}
	var apps []string
	for l := range strings.Lines(string(out)) {
		l = path.Clean(strings.TrimSpace(l))
		dir := path.Dir(l)
		switch dir {
		case "bin", "sbin", "usr/bin", "usr/sbin":
			apps = append(apps, l)
		}
	}
	sort.Strings(apps)
	if len(apps) == 0 {
		return nil, errdefs.Invalid("%s --list-full listed no applets", bb)
	}
	return apps, nil
}
