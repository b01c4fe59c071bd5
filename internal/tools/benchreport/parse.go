package main

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Report is the whole benchmark report.
type Report struct {
	Date    string    `json:"date"`
	Commit  string    `json:"commit,omitempty"`
	Machine Machine   `json:"machine"`
	Figures []*Figure `json:"figures"`
}

// Figure is one measured quantity.
type Figure struct {
	Package   string   `json:"package"`
	Benchmark string   `json:"benchmark"`
	Name      string   `json:"name"`
	Unit      string   `json:"unit"`
	Median    *float64 `json:"median,omitempty"`
	P90       *float64 `json:"p90,omitempty"`
	Min       *float64 `json:"min,omitempty"`
	Max       *float64 `json:"max,omitempty"`
	Runs      int      `json:"runs,omitempty"`
	// Value is set for figures that are one number (a ratio, a count).
	Value *float64 `json:"value,omitempty"`
}

var (
	benchLine = regexp.MustCompile(`^(Benchmark[^\s]+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)
	accelRE   = regexp.MustCompile(`\baccel=([a-z]+)\b`)
)

// skipped are the standard metrics left out of the report.
var skipped = map[string]bool{"ns/op": true, "B/op": true, "allocs/op": true, "MB/s": false}

// parse reads go test -bench output.
func parse(r io.Reader) (*Report, error) {
	rep := &Report{}
	byKey := map[string]*Figure{}
	pkg := ""
	sc := scanLines(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if m := accelRE.FindStringSubmatch(line); m != nil && rep.Machine.Accel == "" {
			rep.Machine.Accel = m[1]
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		bench := m[1]
		fields := strings.Fields(m[3])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: metric %q is not a number", bench, fields[i])
			}
			unit := fields[i+1]
			if skipped[unit] {
				continue
			}
			stat, name, u := "value", unit, ""
			if parts := strings.SplitN(unit, ":", 3); len(parts) == 3 {
				stat, name, u = parts[0], parts[1], parts[2]
			}
			key := pkg + " " + bench + " " + name + " " + u
			f := byKey[key]
			if f == nil {
				f = &Figure{Package: pkg, Benchmark: bench, Name: name, Unit: u}
				byKey[key] = f
				rep.Figures = append(rep.Figures, f)
			}
			val := v
			switch stat {
			case "median":
				f.Median = &val
			case "p90":
				f.P90 = &val
			case "min":
				f.Min = &val
			case "max":
				f.Max = &val
			case "runs":
				f.Runs = int(v)
			default:
				f.Value = &val
			}
		}
	}
	return rep, sc.Err()
}
