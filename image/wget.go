package image

import "path"

// wgetWrapper stands in for busybox's wget applet. Debian's busybox-static
// before 1.36.1-5 is built without FEATURE_WGET_TIMEOUT yet still parses
// -T, storing its number through a NULL pointer: every "wget -T N ..." died
// with SIGSEGV at once (exit 139), before any connection. The wrapper takes
// -T N, -TN, --timeout=N and --timeout N off the command line and runs
// busybox wget under busybox timeout for N seconds instead: a limit on the
// whole download rather than on each read. Without a timeout it only
// execs busybox wget.
const wgetWrapper = `#!/bin/sh
# volant: busybox wget without its -T crash (see image/wget.go).
t= rest=
n=$#
while [ "$n" -gt 0 ]; do
	a=$1; shift; n=$((n - 1))
	if [ -z "$rest" ]; then
		case $a in
		-T|--timeout) t=$1; shift; n=$((n - 1)); continue ;;
		-T*) t=${a#-T}; continue ;;
		--timeout=*) t=${a#--timeout=}; continue ;;
		--) rest=1 ;;
		esac
	fi
	set -- "$@" "$a"
done
if [ -n "$t" ]; then
	exec /bin/busybox timeout "$t" /bin/busybox wget "$@"
fi
exec /bin/busybox wget "$@"
`

// isWget reports whether an applet path is wget's.
func isWget(applet string) bool { return path.Base(applet) == "wget" }
