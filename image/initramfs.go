package image

import (
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/volant-sh/volant/image/cpio"
)

// ModulesListPath is where the initramfs lists the modules kestrel loads,
// one absolute guest path a line, dependencies first.
const ModulesListPath = "/etc/kestrel/modules"

// SandboxUID is the uid and gid of the unprivileged "sandbox" user.
const SandboxUID = 1000

// initramfsContent is everything that goes into the initramfs.
type initramfsContent struct {
	Kestrel, Busybox []byte
	// Applets are busybox applet paths, e.g. "bin/ls".
	Applets []string
	Release string
	// Modules are in load order, each with its file's bytes.
	Modules    []moduleFile
	ModulesDep []byte
	// OSVersion is shown in /etc/os-release.
	OSVersion string
}

type moduleFile struct {
	Path string // below lib/modules/<release>/
	Data []byte
}

// tree collects entries by name, adding parent directories as needed.
type tree map[string]cpio.Entry

func (t tree) dir(name string, perm, uid uint32) {
	t.parents(name)
	t[name] = cpio.Entry{Name: name, Mode: cpio.TypeDir | perm, UID: uid, GID: uid}
}

func (t tree) parents(name string) {
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		if _, ok := t[d]; !ok {
			t[d] = cpio.Entry{Name: d, Mode: cpio.TypeDir | 0o755}
		}
	}
}

func (t tree) file(name string, perm uint32, data []byte) {
	t.parents(name)
	t[name] = cpio.Entry{Name: name, Mode: cpio.TypeRegular | perm, Data: data}
}

func (t tree) symlink(name, target string) {
	t.parents(name)
	t[name] = cpio.Entry{Name: name, Mode: cpio.TypeSymlink | 0o777, Data: []byte(target)}
}

func (t tree) char(name string, perm, major, minor uint32) {
	t.parents(name)
	t[name] = cpio.Entry{Name: name, Mode: cpio.TypeChar | perm, RDevMajor: major, RDevMinor: minor}
}

// sorted returns the entries by name; a directory precedes its content.
func (t tree) sorted() []cpio.Entry {
	out := make([]cpio.Entry, 0, len(t))
	for _, e := range t {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// initramfsEntries lays out the initramfs. It is pure: the same content
// gives the same entries, owned by root with mtime 0 unless noted.
func initramfsEntries(c initramfsContent) []cpio.Entry {
	t := tree{}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc/kestrel", "dev", "proc", "sys", "run", "mnt", "var"} {
		t.dir(d, 0o755, 0)
	}
	t.dir("root", 0o700, 0)
	t.dir("tmp", 0o1777, 0)
	t.dir("var/tmp", 0o1777, 0)
	t.dir("home/sandbox", 0o755, SandboxUID)
	t.char("dev/console", 0o600, 5, 1)
	t.char("dev/null", 0o666, 1, 3)

	t.file("init", 0o755, c.Kestrel)
	t.file("bin/busybox", 0o755, c.Busybox)
	for _, a := range c.Applets {
		if _, ok := t[a]; ok {
			continue
		}
		if isWget(a) {
			t.file(a, 0o755, []byte(wgetWrapper))
			continue
		}
		t.symlink(a, "/bin/busybox")
	}
	if _, ok := t["bin/sh"]; !ok {
		t.symlink("bin/sh", "/bin/busybox")
	}

	modDir := "lib/modules/" + c.Release
	var list strings.Builder
	for _, m := range c.Modules {
		t.file(modDir+"/"+m.Path, 0o644, m.Data)
		fmt.Fprintf(&list, "/%s/%s\n", modDir, m.Path)
	}
	t.dir(modDir, 0o755, 0)
	t.file(modDir+"/modules.dep", 0o644, c.ModulesDep)
	t.file(strings.TrimPrefix(ModulesListPath, "/"), 0o644, []byte(list.String()))

	for name, content := range etcFiles(c.OSVersion) {
		t.file(name, 0o644, []byte(content))
	}
	// The machine's name is the kernel's: kestrel sets it, and the file
	// programs read it from follows without a write of its own.
	t.symlink("etc/hostname", "/proc/sys/kernel/hostname")
	return t.sorted()
}

func etcFiles(version string) map[string]string {
	return map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n" +
			fmt.Sprintf("sandbox:x:%d:%d:sandbox:/home/sandbox:/bin/sh\n", SandboxUID, SandboxUID),
		"etc/group": fmt.Sprintf("root:x:0:\nsandbox:x:%d:\n", SandboxUID),
		"etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		// kestrel writes the real resolver configuration when it sets up
		// the network.
		"etc/resolv.conf": "# written by kestrel when the network is configured\n",
		"etc/os-release": "NAME=\"Volant\"\nID=volant\n" +
			fmt.Sprintf("VERSION_ID=%q\nPRETTY_NAME=\"Volant guest (%s)\"\n", version, version) +
			"HOME_URL=\"https://github.com/volant-sh/volant\"\n",
	}
}

// writeInitramfs writes entries as a newc cpio, compressed as asked.
func writeInitramfs(w io.Writer, entries []cpio.Entry, c Compression) error {
	var zw *gzip.Writer
	if c == CompressGzip {
		// A zero header (no name, mtime 0) keeps the output reproducible.
		zw, _ = gzip.NewWriterLevel(w, gzip.BestCompression)
		w = zw
	}
	cw := cpio.NewWriter(w)
	for _, e := range entries {
		if err := cw.Write(e); err != nil {
			return err
		}
	}
	if err := cw.Close(); err != nil {
		return err
	}
	if zw != nil {
		return zw.Close()
	}
	return nil
}
