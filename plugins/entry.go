package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/volant-sh/volant/store"
)

// entry is the registry's view of one installed plugin. It is never
// changed once built; a change builds a new one.
type entry struct {
	rec      store.Plugin
	manifest Manifest // as stored: content replaced by sha256
	actions  []Action
	digest   string
	files    []File
	rootSize int64 // of the rootfs file's ext4 (kind rootfs)
	problem  string
	// unreadable: the stored manifest could not be decoded, so which
	// blobs the plugin uses is unknown.
	unreadable bool
}

// blobInfo is what the registry knows of one blob: its size, or what is
// wrong with it.
type blobInfo struct {
	size    int64
	problem error
}

// newEntry builds the entry of a stored record; info describes the
// blobs its artifacts name.
func newEntry(b blobs, rec store.Plugin, info map[string]blobInfo) *entry {
	e := &entry{rec: rec}
	const reinstall = "remove the plugin and install it again with its manifest"
	if err := json.Unmarshal(rec.Manifest, &e.manifest); err != nil {
		e.manifest = Manifest{Name: rec.Name, Version: rec.Version}
		e.unreadable = true
		e.problem = fmt.Sprintf("its stored manifest cannot be read (%v); %s", err, reinstall)
		return e
	}
	actions, err := e.manifest.mergedActions()
	if err != nil {
		e.problem = fmt.Sprintf("its actions cannot be built (%v); %s", err, reinstall)
	}
	e.actions = actions
	e.digest = digestOf(e.manifest)
	for _, a := range e.manifest.Artifacts {
		mode, err := parseMode(a.Mode)
		if err != nil && e.problem == "" {
			e.problem = fmt.Sprintf("artifact %s: %v; %s", a.Path, err, reinstall)
		}
		bi, ok := info[a.SHA256]
		if !ok {
			bi.problem = fmt.Errorf("its file was not checked")
		}
		if bi.problem != nil && e.problem == "" {
			e.problem = fmt.Sprintf("artifact %s (sha256 %s): %v; %s", a.Path, a.SHA256, bi.problem, reinstall)
		}
		e.files = append(e.files, File{HostPath: b.path(a.SHA256), GuestPath: a.Path, Mode: mode, Size: bi.size})
	}
	if rf := e.manifest.RootFS; rf != nil && rf.Kind == RootFSFile {
		bi, ok := info[rf.Ext4SHA256]
		if !ok {
			bi.problem = fmt.Errorf("its file was not checked")
		}
		if bi.problem != nil && e.problem == "" {
			e.problem = fmt.Sprintf("rootfs (ext4 sha256 %s): %v; %s", rf.Ext4SHA256, bi.problem, reinstall)
		}
		e.rootSize = bi.size
	}
	return e
}

// withRecord returns a copy of e with another record (enabled flag,
// times).
func (e *entry) withRecord(rec store.Plugin) *entry {
	c := *e
	c.rec = rec
	return &c
}

// view is the Plugin the registry reports.
func (e *entry) view() *Plugin {
	m := e.manifest
	m.Artifacts = slices.Clone(m.Artifacts)
	m.Actions = slices.Clone(m.Actions)
	if m.Workload != nil {
		w := *m.Workload
		w.Command = slices.Clone(w.Command)
		w.Env = maps.Clone(w.Env)
		m.Workload = &w
	}
	if m.Resources != nil {
		r := *m.Resources
		m.Resources = &r
	}
	if m.RootFS != nil {
		r := *m.RootFS
		m.RootFS = &r
	}
	return &Plugin{
		Name:        e.rec.Name,
		Version:     e.rec.Version,
		Description: m.Description,
		Enabled:     e.rec.Enabled,
		Manifest:    m,
		Actions:     slices.Clone(e.actions),
		InstalledAt: e.rec.InstalledAt,
		UpdatedAt:   e.rec.UpdatedAt,
		Digest:      e.digest,
		Problem:     e.problem,
	}
}

// blobSums returns the digests of e's artifacts.
func (e *entry) blobSums() []string {
	var out []string
	for _, a := range e.manifest.Artifacts {
		if a.SHA256 != "" {
			out = append(out, a.SHA256)
		}
	}
	if rf := e.manifest.RootFS; rf != nil && rf.Ext4SHA256 != "" {
		out = append(out, rf.Ext4SHA256)
	}
	return out
}

// digestOf is the digest of a stored manifest: the sha256 of its JSON
// (without host source paths, which the guest never sees) and of its
// artifacts' paths and digests.
func digestOf(m Manifest) string {
	m.Artifacts = slices.Clone(m.Artifacts)
	for i := range m.Artifacts {
		m.Artifacts[i].Source = ""
	}
	h := sha256.New()
	b, _ := json.Marshal(m) // plain data: cannot fail
	h.Write(b)
	for _, a := range m.Artifacts {
		fmt.Fprintf(h, "\n%s\x00%s", a.Path, a.SHA256)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
