package system

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/volant-sh/volant/internal/poll"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/reply"
)

// Sysfs is where the kernel shows the state Settle waits on.
type Sysfs struct {
	// Clocksource is the file naming the current clocksource.
	Clocksource string
	// Net is the directory of network interfaces.
	Net string
}

// GuestSysfs is the guest's own.
var GuestSysfs = Sysfs{
	Clocksource: "/sys/devices/system/clocksource/clocksource0/current_clocksource",
	Net:         "/sys/class/net",
}

// settlePoll is how often Settle looks: the kernel gives no notice of
// either change.
const settlePoll = 20 * time.Millisecond

// Settle waits, at most max, until the kernel has done the deferred work
// its boot leaves queued for a second or two, and says how long it
// waited. A snapshot taken before that work makes every restore of it do
// the work first, kernel code that a new QEMU under TCG translates afresh
// while the restore's first requests wait. A template's snapshot is taken
// a moment after its guest booted and restored many times, so the host
// asks for this before it (POST /v1/settle); a fork's or a hibernation's
// snapshot is restored once or a few times, and is not worth the wait. In
// a guest up for longer Settle returns at once. The work:
//
//   - the switch off the boot clocksource: an x86 kernel that must
//     measure the TSC's rate itself (no hypervisor or CPUID tells it, as
//     under TCG) starts on "tsc-early" and about a second later registers
//     "tsc" and switches to it, or to another if the TSC proved unstable;
//     the switch stops the machine, prints to the console and re-times
//     every clock user;
//   - the link watcher: a link that came up (carrier on) is marked
//     operationally up by a work the kernel runs at most once a second,
//     which also activates its queues and announces the change over
//     netlink.
//
// What cannot be read counts as settled.
func Settle(ctx context.Context, fs Sysfs, max time.Duration) time.Duration {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, max)
	defer cancel()
	_ = poll.Until(ctx, poll.Backoff{First: settlePoll, Max: settlePoll}, func(context.Context) error {
		if clockSettled(fs.Clocksource) && linksSettled(fs.Net) {
			return nil
		}
		return errNotSettled
	})
	return time.Since(start)
}

// errNotSettled is an attempt of Settle that found work still queued.
var errNotSettled = errors.New("the kernel's deferred boot work is still queued")

// clockSettled says the kernel is off its boot clocksource.
func clockSettled(path string) bool {
	b, err := os.ReadFile(path)
	return err != nil || strings.TrimSpace(string(b)) != "tsc-early"
}

// iffUp is IFF_UP in an interface's flags.
const iffUp = 0x1

// linksSettled says no interface waits for the link watcher: none is up,
// with carrier, and still operationally down.
func linksSettled(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return true
	}
	read := func(name, file string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name, file))
		return strings.TrimSpace(string(b))
	}
	for _, e := range ents {
		flags, err := strconv.ParseUint(strings.TrimPrefix(read(e.Name(), "flags"), "0x"), 16, 32)
		if err != nil || flags&iffUp == 0 {
			continue
		}
		if read(e.Name(), "carrier") == "1" && read(e.Name(), "operstate") == "down" {
			return false
		}
	}
	return true
}

// SettleMax bounds POST /v1/settle's wait.
const SettleMax = 3 * time.Second

// handleSettle serves POST /v1/settle: the host asks it of a guest it is
// about to snapshot as a template, restored many times (Settle).
func (s *Server) handleSettle(w http.ResponseWriter, r *http.Request) {
	d := Settle(r.Context(), GuestSysfs, SettleMax)
	if d > time.Millisecond {
		s.cfg.Logger.Debug("settled: waited for the kernel's deferred boot work", "took", d)
	}
	reply.JSON(w, http.StatusOK, client.SettleResponse{WaitedMS: d.Milliseconds()})
}
