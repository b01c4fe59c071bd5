// Command benchreport turns the output of `go test -bench` into the
// benchmark report: a JSON file and docs/benchmarks.md. Benchmarks report
// their figures with internal/benchfig; other custom metrics are kept as
// single values, and ns/op (meaningless for benchmarks that time their own
// samples) is left out.
//
//	go test -run '^$' -bench . ./... | benchreport -json bench.json -md docs/benchmarks.md
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

func main() {
	jsonOut := flag.String("json", "bench.json", "where to write the JSON report")
	mdOut := flag.String("md", "docs/benchmarks.md", "where to write the Markdown report")
	in := flag.String("in", "-", "go test -bench output to read; - is standard input")
	tee := flag.Bool("tee", true, "copy the input to standard output while reading")
	flag.Parse()

	var r io.Reader = os.Stdin
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			fatal(err)
		}
		defer f.Close()
		r = f
	}
	if *tee {
		r = io.TeeReader(r, os.Stdout)
	}
	rep, err := parse(r)
	if err != nil {
		fatal(err)
	}
	rep.Machine = machine(rep.Machine.Accel)
	rep.Date = time.Now().UTC().Format(time.RFC3339)
	rep.Commit = commit()
	if len(rep.Figures) == 0 {
		fatal(fmt.Errorf("no benchmark figures in the input; did the benchmarks run (or were they all skipped)?"))
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		fatal(err)
	}
	if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(*mdOut, []byte(markdown(rep)), 0o644); err != nil {
		fatal(err)
	}
	fmt.Fprintf(os.Stderr, "benchreport: %d figures written to %s and %s\n", len(rep.Figures), *jsonOut, *mdOut)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchreport:", err)
	os.Exit(1)
}

// Machine describes where the report was measured.
type Machine struct {
	Cores     int    `json:"cores"`
	MemoryMiB int    `json:"memory_mib"`
	CPU       string `json:"cpu"`
	Accel     string `json:"accel"`
	Go        string `json:"go"`
}

func machine(accel string) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Accel: accel}
	if m.Accel == "" {
		m.Accel = "unknown"
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kib); err == nil {
			m.MemoryMiB = kib / 1024
		}
	}
	return m
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// scanLines reads r line by line with room for long benchmark lines.
func scanLines(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	return sc
}
