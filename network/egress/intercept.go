package egress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// intercept carries a TLS connection to a host the sandbox holds secrets
// for: it answers the guest's handshake with a certificate for name signed
// by the daemon's CA, connects to dst verifying the real certificate for
// name itself, and relays HTTP/1.1 requests one by one, replacing each
// secret's placeholder with its value in the request headers. Responses
// are relayed as they are. A protocol upgrade (101) turns the rest of the
// connection into a plain relay.
func (s *Service) intercept(ctx context.Context, guest net.Conn, name string, dst netip.AddrPort, secrets []Secret, e *entry, cnt *counters) {
	defer guest.Close()
	cert, err := s.certs.get(s.ca, name)
	if err != nil {
		s.log.Warn("egress: signing a certificate", "sandbox", e.guest.Sandbox, "name", name, "err", err)
		return
	}
	gtls := tls.Server(guest, &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := gtls.HandshakeContext(hctx); err != nil {
		s.log.Info("egress: guest TLS handshake failed (does the guest trust the Volant CA?)", "sandbox", e.guest.Sandbox, "name", name, "err", err)
		return
	}
	up, err := s.dial(ctx, "tcp4", dst.String())
	if err != nil {
		return
	}
	defer up.Close()
	utls := tls.Client(up, s.tlsClientConfig(name))
	if err := utls.HandshakeContext(hctx); err != nil {
		cnt.connDenied.Add(1)
		s.deny(Denial{Sandbox: e.guest.Sandbox, Kind: "connect", Name: name, Addr: dst.String(), Reason: "upstream certificate does not verify: " + err.Error()})
		return
	}
	gr, ur := bufio.NewReader(gtls), bufio.NewReader(utls)
	for {
		req, err := http.ReadRequest(gr)
		if err != nil {
			return
		}
		did := substitute(req.Header, secrets)
		if b, err := substituteBody(req, secrets); err != nil {
			return
		} else if b {
			did = true
		}
		if did {
			cnt.injected.Add(1)
		}
		if err := req.Write(utls); err != nil {
			return
		}
		resp, err := http.ReadResponse(ur, req)
		if err != nil {
			return
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			_ = resp.Write(gtls)
			go func() { _, _ = io.Copy(utls, gr); _ = utls.CloseWrite() }()
			_, _ = io.Copy(gtls, ur)
			return
		}
		werr := resp.Write(gtls)
		resp.Body.Close()
		if werr != nil || resp.Close || req.Close {
			return
		}
	}
}

// substituteBody replaces the placeholders of InBody secrets in a request
// body of known length up to MaxBodySubstitution, fixing Content-Length.
func substituteBody(req *http.Request, secrets []Secret) (bool, error) {
	var inBody []Secret
	for _, s := range secrets {
		if s.InBody && s.Placeholder != "" {
			inBody = append(inBody, s)
		}
	}
	if len(inBody) == 0 || req.Body == nil || req.ContentLength <= 0 || req.ContentLength > MaxBodySubstitution {
		return false, nil
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, req.ContentLength))
	if err != nil {
		return false, err
	}
	did := false
	for _, s := range inBody {
		if bytes.Contains(b, []byte(s.Placeholder)) {
			b = bytes.ReplaceAll(b, []byte(s.Placeholder), []byte(s.Value))
			did = true
		}
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.ContentLength = int64(len(b))
	return did, nil
}

// substitute replaces placeholders with values in every header value and
// reports whether it replaced any.
func substitute(h http.Header, secrets []Secret) bool {
	did := false
	for k, vs := range h {
		for i, v := range vs {
			for _, sec := range secrets {
				if sec.Placeholder != "" && strings.Contains(v, sec.Placeholder) {
					v = strings.ReplaceAll(v, sec.Placeholder, sec.Value)
					did = true
				}
			}
			vs[i] = v
		}
		h[k] = vs
	}
	return did
}
