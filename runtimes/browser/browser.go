// Package browser is the workload of Volant's `browser` runtime plugin: a
// service that keeps one headless Chromium per sandbox and serves actions
// an agent knows from Playwright's MCP server (navigate, snapshot, click,
// type, take_screenshot, ...) over HTTP, described by an OpenAPI document
// so that Volant turns them into REST routes and MCP tools. It speaks the
// Chrome DevTools Protocol directly over Chromium's WebSocket, which also
// stays open to Playwright's connectOverCDP or Puppeteer through the
// sandbox's port proxy.
package browser

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config says how to start the browser.
type Config struct {
	// Chromium is the browser binary; default "chromium" from PATH.
	Chromium string
	// UserDataDir keeps the profile (cookies, local storage); put it on
	// the sandbox's data disk to keep them across stop/start.
	UserDataDir string
	// DebugAddr and DebugPort are where Chromium's DevTools listen, inside
	// the guest; default 127.0.0.1:9222.
	DebugAddr string
	DebugPort int
	// Width and Height size new tabs' viewports; default 1280x720.
	Width, Height int
	// Flags are how Chromium runs: nil means DefaultFlags. The DevTools
	// address, the profile, the window size and the first page are
	// always added.
	Flags []string
	// ExtraFlags are added to Chromium's command line.
	ExtraFlags []string
	// StartTimeout bounds the wait for Chromium's DevTools; default 10 min
	// (Chromium takes minutes to start under emulation).
	StartTimeout time.Duration
	Logger       *slog.Logger
}

func (c *Config) defaults() {
	if c.Chromium == "" {
		c.Chromium = "chromium"
	}
	if c.DebugAddr == "" {
		c.DebugAddr = "127.0.0.1"
	}
	if c.DebugPort == 0 {
		c.DebugPort = 9222
	}
	if c.Width == 0 {
		c.Width, c.Height = 1280, 720
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// DefaultFlags run Chromium headless in a sandbox's guest: no GPU, no
// zygote, no setuid sandbox of its own (the microVM is the sandbox), no
// /dev/shm (small in a guest), and none of the background traffic a
// desktop browser makes (updates, sync, metrics). They work under
// emulation (TCG) as well as with KVM.
var DefaultFlags = []string{
	"--headless=new", "--no-sandbox", "--disable-gpu", "--no-zygote", "--disable-dev-shm-usage",
	"--no-first-run", "--no-default-browser-check", "--disable-background-networking",
	"--disable-component-update", "--disable-sync", "--disable-quic", "--disable-breakpad",
	"--metrics-recording-only", "--mute-audio", "--password-store=basic",
}

// flags returns Chromium's command line but the binary.
func (c *Config) flags() []string {
	f := append([]string(nil), c.Flags...)
	if c.Flags == nil {
		f = append(f, DefaultFlags...)
	}
	f = append(f,
		fmt.Sprintf("--remote-debugging-address=%s", c.DebugAddr),
		fmt.Sprintf("--remote-debugging-port=%d", c.DebugPort),
		fmt.Sprintf("--window-size=%d,%d", c.Width, c.Height),
	)
	if c.UserDataDir != "" {
		f = append(f, "--user-data-dir="+c.UserDataDir)
	}
	f = append(f, c.ExtraFlags...)
	return append(f, "about:blank")
}

// Browser is one running Chromium and its tabs.
type Browser struct {
	cfg  Config
	log  *slog.Logger
	cmd  *exec.Cmd
	conn *conn
	// exited is closed when Chromium's process ends.
	exited chan struct{}

	mu sync.Mutex
	// tabs are the page targets in the order they were opened.
	tabs    []*Tab
	current *Tab
}

var devtoolsRE = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// Start launches Chromium and attaches to its first tab.
func Start(ctx context.Context, cfg Config) (*Browser, error) {
	cfg.defaults()
	if cfg.UserDataDir != "" {
		if err := os.MkdirAll(cfg.UserDataDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the browser profile dir: %w", err)
		}
		clearSingleton(cfg.UserDataDir)
	}
	cmd := exec.Command(cfg.Chromium, cfg.flags()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Chromium, err)
	}
	b := &Browser{cfg: cfg, log: cfg.Logger, cmd: cmd, exited: make(chan struct{})}
	urlc := make(chan string, 1)
	var tail tailBuffer
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			tail.add(line)
			if m := devtoolsRE.FindStringSubmatch(line); m != nil && !sent {
				urlc <- m[1]
				sent = true
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(b.exited)
	}()
	wait, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	var url string
	select {
	case url = <-urlc:
	case <-b.exited:
		return nil, fmt.Errorf("chromium exited while starting: %s", tail.String())
	case <-wait.Done():
		b.kill()
		return nil, fmt.Errorf("chromium did not open its DevTools socket within %s: %s", cfg.StartTimeout, tail.String())
	}
	c, err := dial(wait, url, b.event)
	if err != nil {
		b.kill()
		return nil, err
	}
	b.conn = c
	if err := b.attachExisting(wait); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// clearSingleton removes the profile's lock of a Chromium that did not
// exit cleanly. Chromium refuses a profile locked by another host name,
// and a sandbox's host name changes (the template's, then its own); only
// this process starts Chromium on this profile.
func clearSingleton(dir string) {
	for _, f := range []string{"SingletonLock", "SingletonSocket", "SingletonCookie"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
}

// Ping checks that the browser answers a DevTools command.
func (b *Browser) Ping(ctx context.Context) error {
	return b.conn.call(ctx, "", "Browser.getVersion", nil, nil)
}

// Exited is closed when Chromium's process has ended.
func (b *Browser) Exited() <-chan struct{} { return b.exited }

// Close ends the browser: it asks Chromium to close, so the profile's
// cookies and local storage are written out, and kills it if it has not
// gone within a few seconds.
func (b *Browser) Close() error {
	if b.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if b.conn.call(ctx, "", "Browser.close", nil, nil) == nil {
			select {
			case <-b.exited:
			case <-ctx.Done():
			}
		}
		cancel()
		_ = b.conn.close()
	}
	b.kill()
	return nil
}

func (b *Browser) kill() {
	if b.cmd.Process != nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-b.exited
}

type targetInfo struct {
	TargetID string `json:"targetId"`
	Type     string `json:"type"`
	Title    string `json:"title"`
	URL      string `json:"url"`
}

// attachExisting attaches to the pages Chromium opened itself.
func (b *Browser) attachExisting(ctx context.Context) error {
	var res struct {
		TargetInfos []targetInfo `json:"targetInfos"`
	}
	if err := b.conn.call(ctx, "", "Target.getTargets", nil, &res); err != nil {
		return err
	}
	for _, t := range res.TargetInfos {
		if t.Type == "page" {
			if _, err := b.attach(ctx, t.TargetID); err != nil {
				return err
			}
		}
	}
	if len(b.tabs) == 0 {
		_, err := b.NewTab(ctx, "about:blank")
		return err
	}
	return nil
}

// attach makes a Tab of a page target.
func (b *Browser) attach(ctx context.Context, targetID string) (*Tab, error) {
	var res struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.conn.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": targetID, "flatten": true}, &res); err != nil {
		return nil, err
	}
	t := newTab(b, targetID, res.SessionID)
	b.mu.Lock()
	b.tabs = append(b.tabs, t)
	b.current = t
	b.mu.Unlock()
	if err := t.enable(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// NewTab opens url in a new tab, which becomes the current one.
func (b *Browser) NewTab(ctx context.Context, url string) (*Tab, error) {
	var res struct {
		TargetID string `json:"targetId"`
	}
	if err := b.conn.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &res); err != nil {
		return nil, err
	}
	t, err := b.attach(ctx, res.TargetID)
	if err != nil {
		return nil, err
	}
	if url != "" && url != "about:blank" {
		if _, err := t.Navigate(ctx, url, "load"); err != nil {
			return t, err
		}
	}
	return t, nil
}

// Current returns the current tab.
func (b *Browser) Current() (*Tab, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.current == nil {
		return nil, errNoTab
	}
	return b.current, nil
}

var errNoTab = errors.New("the browser has no open tab; open one with tabs {\"action\": \"new\"}")

// Tabs lists the open tabs.
func (b *Browser) Tabs() []*Tab {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*Tab(nil), b.tabs...)
}

// Select makes the index-th tab current.
func (b *Browser) Select(ctx context.Context, index int) (*Tab, error) {
	b.mu.Lock()
	if index < 0 || index >= len(b.tabs) {
		n := len(b.tabs)
		b.mu.Unlock()
		return nil, &inputError{fmt.Sprintf("index %d: there are %d tabs (0 to %d); list them with tabs {\"action\": \"list\"}", index, n, n-1)}
	}
	t := b.tabs[index]
	b.current = t
	b.mu.Unlock()
	return t, b.conn.call(ctx, "", "Target.activateTarget", map[string]any{"targetId": t.id}, nil)
}

// CloseTab closes the index-th tab; the last one opened becomes current.
func (b *Browser) CloseTab(ctx context.Context, index int) error {
	b.mu.Lock()
	if index < 0 || index >= len(b.tabs) {
		n := len(b.tabs)
		b.mu.Unlock()
		return &inputError{fmt.Sprintf("index %d: there are %d tabs (0 to %d)", index, n, n-1)}
	}
	t := b.tabs[index]
	b.mu.Unlock()
	if err := b.conn.call(ctx, "", "Target.closeTarget", map[string]any{"targetId": t.id}, nil); err != nil {
		return err
	}
	b.removeTab(t.id)
	return nil
}

func (b *Browser) removeTab(targetID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, t := range b.tabs {
		if t.id == targetID {
			b.tabs = append(b.tabs[:i], b.tabs[i+1:]...)
			t.gone()
			break
		}
	}
	if b.current != nil && b.current.id == targetID {
		b.current = nil
		if n := len(b.tabs); n > 0 {
			b.current = b.tabs[n-1]
		}
	}
}

// event routes a DevTools event to its tab.
func (b *Browser) event(session, method string, params json.RawMessage) {
	if method == "Target.detachedFromTarget" {
		var p struct {
			TargetID string `json:"targetId"`
		}
		if json.Unmarshal(params, &p) == nil && p.TargetID != "" {
			b.removeTab(p.TargetID)
		}
		return
	}
	if session == "" {
		return
	}
	b.mu.Lock()
	var tab *Tab
	for _, t := range b.tabs {
		if t.session == session {
			tab = t
			break
		}
	}
	b.mu.Unlock()
	if tab != nil {
		tab.event(method, params)
	}
}

// tailBuffer keeps Chromium's last lines of stderr for error messages.
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (t *tailBuffer) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > 20 {
		t.lines = t.lines[1:]
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return "(it printed nothing)"
	}
	return strings.Join(t.lines, " | ")
}

// inputError is a caller's mistake; the service answers it with 4xx.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

// notFoundError is a ref or selector that matches nothing.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
