// Command volantd is Volant's control plane: it owns the microVM sandboxes
// of one state directory and serves them over REST and MCP.
//
//	volantd serve [--listen ADDR] [--state-dir DIR] [--config FILE]
//	volantd mcp [--state-dir DIR]       MCP over stdio
//	volantd image build [--state-dir DIR] [--kestrel PATH]
//	volantd version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/volant-sh/volant/daemon"
	"github.com/volant-sh/volant/internal/logging"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "volantd:", err)
		os.Exit(1)
	}
}

const usage = `usage: volantd <command> [flags]

commands:
  serve        run the daemon: REST and MCP on --listen (default 127.0.0.1:7777)
  kubelet      register this host as a Kubernetes node (virtual-kubelet provider)
  mcp          MCP over stdio (bridges to a running daemon of the same state dir)
  image build  build the default guest image
  version      print the version

Run 'volantd <command> -h' for a command's flags.`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("missing command")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "kubelet":
		return kubeletCmd(ctx, args[1:], stderr)
	case "mcp":
		return mcpStdio(ctx, args[1:], stdin, stdout, stderr)
	case "image":
		if len(args) < 2 || args[1] != "build" {
			return errors.New("usage: volantd image build [--state-dir DIR] [--kestrel PATH]")
		}
		return imageBuild(ctx, args[2:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "volantd", daemon.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// configFlags registers the flags every command shares and returns a
// function that loads the config: defaults, then file, then env, then flags.
func configFlags(fs *flag.FlagSet) func() (daemon.Config, error) {
	cfg := daemon.Defaults()
	configPath := fs.String("config", os.Getenv("VOLANT_CONFIG"), "JSON config file")
	listen := fs.String("listen", "", "REST+MCP address (default "+cfg.Listen+")")
	stateDir := fs.String("state-dir", "", "state directory (default "+cfg.StateDir+")")
	logLevel := fs.String("log-level", "", "debug, info, warn or error")
	accel := fs.String("accel", "", "auto, kvm or tcg (qemu)")
	driver := fs.String("driver", "", "hypervisor driver: auto, qemu or cloud-hypervisor (default "+cfg.Driver+")")
	kestrel := fs.String("kestrel", "", "static kestrel binary for image builds")
	return func() (daemon.Config, error) {
		if *configPath != "" {
			if err := cfg.LoadFile(*configPath); err != nil {
				return cfg, err
			}
		}
		if err := cfg.LoadEnv(); err != nil {
			return cfg, err
		}
		for p, v := range map[*string]string{&cfg.Listen: *listen, &cfg.StateDir: *stateDir, &cfg.LogLevel: *logLevel, &cfg.Accel: *accel, &cfg.Driver: *driver, &cfg.KestrelPath: *kestrel} {
			if v != "" {
				*p = v
			}
		}
		return cfg, cfg.Validate()
	}
}

func logger(cfg daemon.Config, w io.Writer) *slog.Logger {
	lvl, _ := logging.ParseLevel(cfg.LogLevel)
	return logging.New(w, lvl)
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	load := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	log := logger(cfg, stderr)
	d, err := daemon.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Serve(ctx)
}
