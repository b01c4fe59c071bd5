// Package guesttest holds the browser plugin's tests in real guests: the
// plugin installed from runtimes/browser with volar, its template with
// Chromium started, and sandboxes restored from it driven over REST, MCP
// and Playwright's connectOverCDP. They skip under -short and without
// QEMU or root, like every guest test.
package guesttest
