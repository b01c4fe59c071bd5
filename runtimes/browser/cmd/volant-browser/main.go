// Command volant-browser is the workload of Volant's browser runtime: it
// starts headless Chromium and serves the browser's actions over HTTP.
//
//	volant-browser [-listen 127.0.0.1:8931] [-profile /data/browser]
//	volant-browser openapi   # print the OpenAPI document
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
	debugPort := flag.Int("debug-port", 9222, "Chromium's DevTools port (inside the sandbox)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*listen, browser.Config{Chromium: *chromium, UserDataDir: *profile, DebugPort: *debugPort, Logger: log}, log); err != nil {
		log.Error("volant-browser", "err", err)
		os.Exit(1)
	}
}

func run(listen string, cfg browser.Config, log *slog.Logger) error {
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
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: svc.Handler()}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info("serving the browser's actions", "listen", listen, "devtools_port", cfg.DebugPort)
	select {
	case <-ctx.Done():
	case <-b.Exited():
		err = errors.New("chromium exited")
	case err = <-errc:
	}
	_ = srv.Close()
	return err
}
