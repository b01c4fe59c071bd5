package proc

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzDecodeRequest: the exec request decoder and resolve (argv, env,
// cwd, user) take any body without a panic; nothing is run.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"argv":["ls","-l"],"env":{"A":"1"},"cwd":"/tmp","user":"sandbox"}`))
	f.Add([]byte(`{"argv":[""],"user":"99999999999999999999"}`))
	f.Add([]byte(`{"argv":["sh"],"stdin":"aGk=","timeout_ms":-1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/v1/exec", bytes.NewReader(body))
		req, ok := decodeRequest(w, r)
		if !ok {
			if w.Code < 400 || w.Code >= 500 {
				t.Fatalf("a bad body answered %d", w.Code)
			}
			return
		}
		_, _ = resolve(req)
	})
}
