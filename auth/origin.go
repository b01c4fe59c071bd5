package auth

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// HostGuard refuses requests whose Host or Origin names a host the API is
// not served as, against DNS rebinding: a web page whose name resolves to
// 127.0.0.1 must not reach the API with the browser's help.
//
// On a loopback listener Host (and Origin, when sent) must be localhost,
// a loopback address or one of allowed. On another listener they must be
// the listener's own address or one of allowed; with allowed empty, any
// Host is taken there (the operator names the hosts in allowed_hosts).
// Requests over a unix socket are not checked: only local users whose
// file permissions allow it reach the socket. A refused request gets a
// 403 application/problem+json answer naming the setting to change.
func HostGuard(allowed []string, next http.Handler) http.Handler {
	allow := map[string]bool{}
	for _, h := range allowed {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			allow[strings.Trim(h, "[]")] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if !ok || local.Network() == "unix" {
			next.ServeHTTP(w, r)
			return
		}
		var laddr netip.Addr
		if ap, err := netip.ParseAddrPort(local.String()); err == nil {
			laddr = ap.Addr().Unmap()
		}
		known := func(host string) bool {
			host = strings.ToLower(strings.Trim(host, "[]"))
			if allow[host] {
				return true
			}
			a, err := netip.ParseAddr(host)
			if laddr.IsLoopback() {
				return host == "localhost" || strings.HasSuffix(host, ".localhost") || err == nil && a.IsLoopback()
			}
			return len(allow) == 0 || err == nil && a.Unmap() == laddr
		}
		if !known(hostOnly(r.Host)) {
			refuse(w, "Host "+r.Host)
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || u.Host == "" || !known(u.Hostname()) {
				refuse(w, "Origin "+o)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func refuse(w http.ResponseWriter, what string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusForbidden)
	_ = json.NewEncoder(w).Encode(problem{Title: http.StatusText(http.StatusForbidden), Status: http.StatusForbidden,
		Detail: "this API does not answer to " + what + " (DNS rebinding protection); reach it as localhost or 127.0.0.1, " +
			"or have the operator add the name to volantd's allowed_hosts (VOLANT_ALLOWED_HOSTS)"})
}
