package agent

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The agent's answers carry no Date header: nothing reads it, and a
// restored guest would format it first thing.
func TestAnswersHaveNoDate(t *testing.T) {
	srv := httptest.NewServer(withoutDate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d, ok := resp.Header["Date"]; ok {
		t.Errorf("answer has Date %q, want none", d)
	}
}
