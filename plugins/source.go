package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// Where an artifact's bytes come from. An artifact never names an
// arbitrary file on the daemon's host: its bytes are inline in the manifest
// (content), a file under one of the directories the operator allows for
// plugins (Config.SourceDirs), or an http(s) URL whose address is neither
// the host itself nor a private, loopback, link-local or metadata address.

// MaxURLArtifactBytes bounds an artifact fetched from a URL.
const MaxURLArtifactBytes = 4 << 30

// isURLSource reports whether an artifact source is a URL rather than a
// path under the plugin directories.
func isURLSource(src string) bool {
	return strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
}

// checkSource reports what is wrong with an artifact source's form, or
// nil. Whether the file exists is only known at install time.
func checkSource(src string) error {
	if strings.ContainsRune(src, 0) {
		return errors.New("contains a NUL byte")
	}
	if isURLSource(src) {
		u, err := url.Parse(src)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%q is not a URL; give http(s)://host/path", src)
		}
		if u.User != nil {
			return fmt.Errorf("%q carries credentials; artifact URLs must be public", src)
		}
		return nil
	}
	if strings.Contains(src, "://") {
		return fmt.Errorf("%q: only http and https URLs are fetched", src)
	}
	if !filepath.IsAbs(src) && !filepath.IsLocal(src) {
		return fmt.Errorf("%q leaves the plugin directories; give a path under one of them (relative, or absolute)", src)
	}
	return nil
}

// errSourceRefused is the one answer for a path source that cannot be
// used, whatever the reason (outside the plugin directories, missing, not a
// regular file, unreadable), so the answer never tells whether a file
// outside those directories exists.
func (r *Registry) errSourceRefused(field, src string) error {
	if len(r.cfg.SourceDirs) == 0 {
		return errdefs.Invalid("%s.source: %q: this daemon takes no artifact files from its host (no plugin_dirs configured); "+
			"send the file's bytes as content, or give an http(s) URL", field, src)
	}
	return errdefs.Invalid("%s.source: %q is not a readable regular file under the daemon's plugin directories (%s); "+
		"put the file there, send its bytes as content, or give an http(s) URL",
		field, src, strings.Join(r.cfg.SourceDirs, ", "))
}

// openArtifactSource opens an artifact's source: a file under the plugin
// directories, or a URL.
func (r *Registry) openArtifactSource(ctx context.Context, field, src string) (io.ReadCloser, error) {
	if isURLSource(src) {
		return fetchURL(ctx, field, src)
	}
	f, err := openUnder(r.cfg.SourceDirs, src)
	if err != nil {
		r.log.Info("artifact source refused", "source", src, "err", err)
		return nil, r.errSourceRefused(field, src)
	}
	return f, nil
}

// openUnder opens path as a regular file inside one of dirs. An absolute
// path must lie in a dir; a relative one is looked up in each dir in turn.
// Symlinks are followed only while they stay inside the dir (os.Root), so
// no link leads out of it.
func openUnder(dirs []string, path string) (*os.File, error) {
	var last error = errors.New("no plugin directory is configured")
	for _, dir := range dirs {
		rel := path
		if filepath.IsAbs(path) {
			var err error
			if rel, err = filepath.Rel(dir, path); err != nil || !filepath.IsLocal(rel) {
				last = fmt.Errorf("%s is not under %s", path, dir)
				continue
			}
		} else if !filepath.IsLocal(rel) {
			return nil, fmt.Errorf("%s leaves the directory", path)
		}
		f, err := openInRoot(dir, rel)
		if err != nil {
			last = err
			continue
		}
		return f, nil
	}
	return nil, last
}

func openInRoot(dir, rel string) (*os.File, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", rel)
	}
	return f, nil
}

// allowDial reports whether an artifact fetch may connect to addr; tests
// replace it to reach a loopback server.
var allowDial = checkPublicAddr

// checkPublicAddr refuses addresses an artifact URL must not reach: the
// host's own, loopback, link-local (cloud metadata), private, shared
// (carrier-grade NAT), unspecified and multicast ones.
func checkPublicAddr(a netip.Addr) error {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return errors.New("is a loopback address")
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return errors.New("is a link-local address (where cloud metadata services answer)")
	case a.IsPrivate():
		return errors.New("is a private address")
	case a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast():
		return errors.New("is not a unicast address")
	case sharedSpace.Contains(a):
		return errors.New("is a shared (carrier-grade NAT) address")
	}
	if own, err := net.InterfaceAddrs(); err == nil {
		for _, o := range own {
			if p, err := netip.ParsePrefix(o.String()); err == nil && p.Addr().Unmap() == a {
				return errors.New("is an address of the daemon's own host")
			}
		}
	}
	return nil
}

var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// fetchClient fetches URL artifacts. Its dialer checks the address it
// actually connects to (after DNS, and again on every redirect), so a name
// that resolves to a forbidden address is refused; it uses no proxy, since
// a proxy would make that check meaningless.
var fetchClient = &http.Client{
	Transport: &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout: 30 * time.Second,
			Control: func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return fmt.Errorf("address %s: %w", address, err)
				}
				if err := allowDial(ap.Addr()); err != nil {
					return &refusedAddr{addr: ap.Addr(), why: err}
				}
				return nil
			},
		}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		ForceAttemptHTTP2:     true,
	},
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to a %s URL", req.URL.Scheme)
		}
		return nil
	},
}

// refusedAddr is a dial refused by the SSRF rules.
type refusedAddr struct {
	addr netip.Addr
	why  error
}

func (e *refusedAddr) Error() string { return fmt.Sprintf("%s %v", e.addr, e.why) }

// fetchURL starts downloading a URL artifact.
func fetchURL(ctx context.Context, field, src string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, errdefs.Invalid("%s.source: %q is not a URL: %v", field, src, err)
	}
	resp, err := fetchClient.Do(req)
	var refused *refusedAddr
	switch {
	case errors.As(err, &refused):
		return nil, errdefs.Invalid("%s.source: %s: the server's address %v; artifact URLs must be on public addresses, "+
			"so send the file's bytes as content or put it under the daemon's plugin directories", field, src, refused)
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("%s.source: fetching %s: %w", field, src, ctx.Err())
	case err != nil:
		return nil, errdefs.Invalid("%s.source: fetching %s: %v; check the URL", field, src, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, errdefs.Invalid("%s.source: fetching %s answered %s; give a URL that answers 200 with the file", field, src, resp.Status)
	}
	if resp.ContentLength > MaxURLArtifactBytes {
		resp.Body.Close()
		return nil, errdefs.Invalid("%s.source: %s is %d bytes, more than the %d allowed", field, src, resp.ContentLength, int64(MaxURLArtifactBytes))
	}
	return &limitedBody{r: io.LimitReader(resp.Body, MaxURLArtifactBytes+1), c: resp.Body}, nil
}

// limitedBody fails a body that runs past MaxURLArtifactBytes.
type limitedBody struct {
	r io.Reader
	c io.Closer
	n int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > MaxURLArtifactBytes {
		return n, fmt.Errorf("the file is more than %d bytes", int64(MaxURLArtifactBytes))
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.c.Close() }
