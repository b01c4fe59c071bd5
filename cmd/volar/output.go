package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// The API's objects, as far as the tables show them. --json prints the
// answers as is, so these need not carry every field.

type sandboxInfo struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Runtime      string            `json:"runtime"`
	State        string            `json:"state"`
	Reason       string            `json:"reason"`
	Labels       map[string]string `json:"labels"`
	IP           string            `json:"ip"`
	Gateway      string            `json:"gateway"`
	MAC          string            `json:"mac"`
	FromSnapshot string            `json:"from_snapshot"`
	Boot         string            `json:"boot"`
	CreatedAt    time.Time         `json:"created_at"`
	ExpiresAt    *time.Time        `json:"expires_at"`
	Spec         struct {
		VCPUs     int    `json:"vcpus"`
		MemoryMiB int    `json:"memory_mib"`
		DiskMiB   int    `json:"disk_mib"`
		Network   string `json:"network"`
	} `json:"spec"`
}

type snapshotInfo struct {
	ID        string    `json:"id"`
	SandboxID string    `json:"sandbox_id"`
	ParentID  string    `json:"parent_id"`
	Runtime   string    `json:"runtime"`
	Template  bool      `json:"template"`
	SizeBytes int64     `json:"size_bytes"`
	CreatedAt time.Time `json:"created_at"`
	Children  int       `json:"children"`
	Sandboxes int       `json:"sandboxes"`
}

type fileInfo struct {
	Name       string    `json:"name"`
	Path       string    `json:"path"`
	Size       int64     `json:"size"`
	Mode       string    `json:"mode"`
	IsDir      bool      `json:"is_dir"`
	IsSymlink  bool      `json:"is_symlink"`
	LinkTarget string    `json:"link_target"`
	ModTime    time.Time `json:"mod_time"`
	UID        int       `json:"uid"`
	GID        int       `json:"gid"`
}

type tokenInfo struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scope      string     `json:"scope"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Token      string     `json:"token"`
}

// printJSON writes an API answer as is, ending with a newline.
func printJSON(w io.Writer, raw []byte) {
	raw = bytes.TrimRight(raw, "\n")
	w.Write(raw)
	io.WriteString(w, "\n")
}

// table writes aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	t.row(header...)
	return t
}

// newKV returns a table of "key: value" rows, without a header.
func newKV(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)}
}

func (t *table) row(cols ...string) {
	fmt.Fprintln(t.tw, strings.Join(cols, "\t"))
}

func (t *table) flush() { t.tw.Flush() }

// ago says how long ago t was, briefly.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// orDash shows empty values as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanBytes formats a size in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// labelsString shows labels as k=v,k=v.
func labelsString(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// printSandboxes writes a table of sandboxes.
func printSandboxes(w io.Writer, list []sandboxInfo) {
	t := newTable(w, "ID", "NAME", "RUNTIME", "STATE", "IP", "VCPUS", "MEMORY", "CREATED", "LABELS")
	for _, s := range list {
		state := s.State
		if s.Reason != "" && s.State == "failed" {
			state += " (" + s.Reason + ")"
		}
		t.row(s.ID, orDash(s.Name), s.Runtime, state, orDash(s.IP),
			fmt.Sprint(s.Spec.VCPUs), fmt.Sprintf("%dMiB", s.Spec.MemoryMiB), ago(s.CreatedAt), labelsString(s.Labels))
	}
	t.flush()
}

// printSandbox writes one sandbox as key: value lines.
func printSandbox(w io.Writer, s sandboxInfo) {
	t := newKV(w)
	t.row("id:", s.ID)
	t.row("name:", orDash(s.Name))
	t.row("runtime:", s.Runtime)
	t.row("state:", s.State)
	if s.Reason != "" {
		t.row("reason:", s.Reason)
	}
	t.row("vcpus:", fmt.Sprint(s.Spec.VCPUs))
	t.row("memory:", fmt.Sprintf("%d MiB", s.Spec.MemoryMiB))
	if s.Spec.DiskMiB > 0 {
		t.row("disk:", fmt.Sprintf("%d MiB", s.Spec.DiskMiB))
	}
	t.row("network:", orDash(s.Spec.Network))
	t.row("ip:", orDash(s.IP))
	if s.Gateway != "" {
		t.row("gateway:", s.Gateway)
	}
	if s.MAC != "" {
		t.row("mac:", s.MAC)
	}
	if s.Boot != "" {
		t.row("boot:", s.Boot)
	}
	if s.FromSnapshot != "" {
		t.row("from snapshot:", s.FromSnapshot)
	}
	t.row("labels:", labelsString(s.Labels))
	t.row("created:", s.CreatedAt.Local().Format(time.RFC3339)+" ("+ago(s.CreatedAt)+")")
	if s.ExpiresAt != nil {
		t.row("expires:", s.ExpiresAt.Local().Format(time.RFC3339))
	}
	t.flush()
}

// printSnapshots writes a table of snapshots.
func printSnapshots(w io.Writer, list []snapshotInfo) {
	t := newTable(w, "ID", "SANDBOX", "PARENT", "RUNTIME", "SIZE", "CREATED", "USED BY")
	for _, s := range list {
		rt := s.Runtime
		if s.Template {
			rt += " (template)"
		}
		t.row(s.ID, orDash(s.SandboxID), orDash(s.ParentID), rt, humanBytes(s.SizeBytes), ago(s.CreatedAt),
			fmt.Sprintf("%d sandboxes, %d snapshots", s.Sandboxes, s.Children))
	}
	t.flush()
}

// showSandbox prints one sandbox as the global flags ask: the API's JSON,
// the id alone (-q), or a table.
func (e *env) showSandbox(raw []byte, sb sandboxInfo) {
	e.show(raw, []string{sb.ID}, func() { printSandbox(e.stdout, sb) })
}

// show prints an answer as the global flags ask: the API's JSON as is,
// the ids alone one a line (-q; nothing when ids is nil), or what table
// prints.
func (e *env) show(raw []byte, ids []string, table func()) {
	switch {
	case e.g.json:
		printJSON(e.stdout, raw)
	case e.g.quiet:
		for _, id := range ids {
			fmt.Fprintln(e.stdout, id)
		}
	default:
		table()
	}
}

// showItems shows a list answer ({"items": [...]}) as the global flags
// ask: the JSON as is, the ids (-q), or table's rendering of the items.
func showItems[T any](e *env, raw []byte, items []T, id func(T) string, table func(io.Writer, []T)) {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = id(it)
	}
	e.show(raw, ids, func() { table(e.stdout, items) })
}

// listCommand runs a command without arguments that GETs path, a list
// of items, and shows it.
func listCommand[T any](e *env, args []string, usage, path string, id func(T) string, table func(io.Writer, []T)) error {
	_, api, err := e.newCommand(usage).open(e, args, 0, 0)
	if err != nil {
		return err
	}
	var out struct {
		Items []T `json:"items"`
	}
	raw, err := api.call(e.ctx, request{method: http.MethodGet, path: path}, &out)
	if err != nil {
		return err
	}
	showItems(e, raw, out.Items, id, table)
	return nil
}
