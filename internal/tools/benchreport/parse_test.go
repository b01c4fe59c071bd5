package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
pkg: github.com/volant-sh/volant/sandbox
BenchmarkCreateToFirstExec-2   	      10	 999 ns/op	 120.5 median:create-pooled:ms	 300 p90:create-pooled:ms	 90 min:create-pooled:ms	 400 max:create-pooled:ms	 10 runs:create-pooled:ms	 12.5 value:cold/pooled:x	 3.3 median-cold-ms
    bench_test.go:50: accel=tcg
PASS
`

func TestParse(t *testing.T) {
	rep, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.Machine.Accel, "tcg"; got != want {
		t.Errorf("accel: got %q, want %q", got, want)
	}
	if got, want := len(rep.Figures), 3; got != want {
		t.Fatalf("figures: got %d, want %d: %+v", got, want, rep.Figures)
	}
	f := rep.Figures[0]
	if f.Name != "create-pooled" || f.Unit != "ms" || *f.Median != 120.5 || *f.P90 != 300 || *f.Min != 90 || *f.Max != 400 || f.Runs != 10 {
		t.Errorf("first figure: %+v", f)
	}
	if f.Benchmark != "BenchmarkCreateToFirstExec" || f.Package != "github.com/volant-sh/volant/sandbox" {
		t.Errorf("names: %q %q", f.Benchmark, f.Package)
	}
	if r := rep.Figures[1]; r.Name != "cold/pooled" || *r.Value != 12.5 {
		t.Errorf("ratio: %+v", r)
	}
	md := markdown(rep)
	for _, want := range []string{"| BenchmarkCreateToFirstExec | create-pooled | ms | 120 | 300 | 90.0 | 400 | 10 |", "accelerator tcg"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
