package pid1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// ModulesFile lists kernel modules (absolute .ko paths) in load order.
const ModulesFile = "/etc/kestrel/modules"

// ParseModules reads a module list: one path a line; blank lines and
// lines starting with # are skipped.
func ParseModules(r io.Reader) ([]string, error) {
	var mods []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mods = append(mods, line)
	}
	return mods, sc.Err()
}

// LoadModules loads the modules listed in path, in order. A missing list
// is fine; a module already loaded (EEXIST) is skipped; other failures are
// logged and loading continues. It returns how many were loaded.
func LoadModules(path string, log *slog.Logger) int {
	f, err := os.Open(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warn("reading module list", "path", path, "err", err)
		}
		return 0
	}
	defer f.Close()
	mods, err := ParseModules(f)
	if err != nil {
		log.Warn("reading module list", "path", path, "err", err)
	}
	n := 0
	for _, m := range mods {
		if err := loadModule(m); err != nil {
			if errors.Is(err, unix.EEXIST) {
				continue
			}
			log.Warn("loading module", "module", m, "err", err)
			continue
		}
		n++
	}
	return n
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = unix.FinitModule(int(fd), "", 0) }); err != nil {
		return err
	}
	if ferr != nil {
		return fmt.Errorf("finit_module %s: %w", path, ferr)
	}
	return nil
}
