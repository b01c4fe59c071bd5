// Command volant-browser is the workload of Volant's browser runtime: it
// starts headless Chromium and serves the browser's actions over HTTP.
//
//	volant-browser [-listen 127.0.0.1:8931] [-devtools 127.0.0.1:9222]
//	               [-profile /var/lib/volant-browser] [-- chromium flags...]
//	volant-browser openapi   # print the OpenAPI document
//
// Chromium's DevTools listen on -debug-port inside the guest; -devtools
// serves them to clients outside it (Playwright's connectOverCDP through
// the sandbox's port proxy), with the URLs of /json/version rewritten to
// the address the client used. Flags after "--" replace
// browser.DefaultFlags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/volant-sh/volant/runtimes/browser"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "openapi" {
		doc, err := browser.OpenAPI()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(string(doc))
		return
	}
	listen := flag.String("listen", "127.0.0.1:8931", "address of the actions' HTTP API")
	profile := flag.String("profile", "/var/lib/volant-browser", "Chromium's profile directory (cookies, storage)")
	chromium := flag.String("chromium", "chromium", "the Chromium binary")
	debugPort := flag.Int("debug-port", 9223, "Chromium's own DevTools port (inside the sandbox, on 127.0.0.1)")
	devtools := flag.String("devtools", "127.0.0.1:9222", "address of the DevTools front for clients outside the sandbox; empty for none")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg := browser.Config{Chromium: *chromium, UserDataDir: *profile, DebugPort: *debugPort, Logger: log}
	if flag.NArg() > 0 {
		cfg.Flags = flag.Args()
	}
	if err := run(*listen, *devtools, cfg, log); err != nil {
		log.Error("volant-browser", "err", err)
		os.Exit(1)
	}
}

func run(listen, devtools string, cfg browser.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	b, err := browser.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	svc, err := browser.NewService(b, log)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	if devtools != "" {
		dl, err := net.Listen("tcp", devtools)
		if err != nil {
			return err
		}
		front := &http.Server{Handler: browser.DevToolsHandler(fmt.Sprintf("127.0.0.1:%d", cfg.DebugPort))}
		go func() { errc <- front.Serve(dl) }()
		defer front.Close()
	}
	// The actions listen last: the workload's port accepting means the
	// browser is up (its health check also asks Chromium).
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: svc.Handler()}
	go func() { errc <- srv.Serve(l) }()
	log.Info("serving the browser's actions", "listen", listen, "devtools", devtools, "chromium_devtools_port", cfg.DebugPort)
	select {
	case <-ctx.Done():
	case <-b.Exited():
		err = errors.New("chromium exited")
	case err = <-errc:
	}
	_ = srv.Close()
	return err
}
