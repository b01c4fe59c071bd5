package benchfig

import "testing"

func TestSummarise(t *testing.T) {
	got := Summarise([]float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6})
	want := Stats{Median: 5, P90: 9, Min: 1, Max: 10, Runs: 10}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := Summarise(nil); got != (Stats{}) {
		t.Errorf("empty: got %+v", got)
	}
	if got := Summarise([]float64{7}); got != (Stats{7, 7, 7, 7, 1}) {
		t.Errorf("one: got %+v", got)
	}
}
