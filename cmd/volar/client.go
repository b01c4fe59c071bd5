package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/volant-sh/volant/apiclient"
)

const defaultAddr = "http://127.0.0.1:7777"

// api is the REST client of one volantd, with what volar needs to
// explain its errors.
type api struct {
	*apiclient.Client
	// addr is what the user gave, for messages.
	addr string
	// tokenHint says where the token came from or why there is none.
	tokenHint string
}

// newAPI returns a client of addr (http://, https://, unix:// or
// host:port) that authenticates with token, or with the first readable
// token file when token is empty.
func newAPI(addr, token string) (*api, error) {
	a := &api{addr: addr, tokenHint: "from --token or VOLANT_TOKEN"}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	base := ""
	switch {
	case strings.HasPrefix(addr, "unix://"):
		sock := strings.TrimPrefix(addr, "unix://")
		if sock == "" {
			return nil, fmt.Errorf("--addr %q: give the socket's path, e.g. unix:///var/lib/volant/volantd.sock", addr)
		}
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", sock)
		}
		tr.Proxy = nil
		base = "http://volantd"
	case strings.HasPrefix(addr, "http://"), strings.HasPrefix(addr, "https://"):
		u, err := url.Parse(addr)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("--addr %q: use http://host:port, https://host:port or unix:///path/volantd.sock", addr)
		}
		base = addr
	default:
		if addr != "" && !strings.Contains(addr, "://") {
			// host:port
			base = "http://" + strings.TrimSuffix(addr, "/")
			break
		}
		return nil, fmt.Errorf("--addr %q: use http://host:port, https://host:port or unix:///path/volantd.sock", addr)
	}
	if token == "" {
		token, a.tokenHint = findToken()
	}
	c, err := apiclient.New(apiclient.Options{BaseURL: base, Token: token, HTTPClient: &http.Client{Transport: tr}, UserAgent: "volar"})
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %v", addr, err)
	}
	a.Client = c
	return a, nil
}

// systemTokenFile is root's daemon's token; a variable for tests.
var systemTokenFile = "/var/lib/volant/token"

// tokenFiles are the places a token is looked for, in order.
func tokenFiles() []string {
	var files []string
	if d := os.Getenv("VOLANT_STATE_DIR"); d != "" {
		files = append(files, filepath.Join(d, "token"))
	}
	files = append(files, systemTokenFile)
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		files = append(files, filepath.Join(x, "volant", "token"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(h, ".local", "share", "volant", "token"))
	}
	return files
}

// findToken reads the first token file there is. It returns the token
// and a note on where it came from or why none was found.
func findToken() (string, string) {
	var denied []string
	for _, f := range tokenFiles() {
		b, err := os.ReadFile(f)
		if err == nil {
			if t := strings.TrimSpace(string(b)); t != "" {
				return t, "from " + f
			}
			continue
		}
		if errors.Is(err, fs.ErrPermission) {
			denied = append(denied, f)
		}
	}
	if len(denied) > 0 {
		return "", fmt.Sprintf("no token given and %s is not readable by this user: run as root (sudo), or pass --token / VOLANT_TOKEN", strings.Join(denied, ", "))
	}
	return "", "no token given and no token file found (" + strings.Join(tokenFiles(), ", ") + "): pass --token or set VOLANT_TOKEN (volantd writes the admin token to STATE_DIR/token)"
}
