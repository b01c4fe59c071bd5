package mcp

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
)

// toolError turns an engine or agent error into the error a tool returns;
// the SDK sends it as a result with isError set. Messages name tools, not
// REST routes, and say what to do next.
func toolError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("cancelled")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timed out; retry, with a larger timeout_s if the tool takes one")
	}
	msg := restToTools(err.Error())
	var ae *client.Error
	switch {
	case errors.As(err, &ae):
		// The guest agent's messages already name the path or process.
		if errors.Is(err, errdefs.ErrInvalidArgument) {
			msg = "invalid arguments: " + msg
		} else if ae.Code == "" && ae.Status >= 500 {
			msg = "guest agent error: " + msg
		}
	case errors.Is(err, errdefs.ErrNotFound):
		if !strings.Contains(msg, "sandbox_list") && !strings.Contains(msg, "snapshot_list") {
			msg += "; list what exists with sandbox_list or snapshot_list"
		}
	case errors.Is(err, errdefs.ErrInvalidArgument):
		msg = "invalid arguments: " + msg
	case errors.Is(err, errdefs.ErrResourceExhausted):
		msg += "; delete sandboxes you no longer need (sandbox_delete) or ask for fewer vcpus/memory_mib"
	case errors.Is(err, errdefs.ErrUnavailable):
		msg += "; retry shortly"
	case errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrAlreadyExists):
	default:
		msg = "internal error: " + msg + "; retry, and if it persists ask the operator to check the volantd logs"
	}
	return errors.New(msg)
}

// agentError is toolError for errors of agent calls, adding hint to a
// "not found" answer (for example which tool lists what exists).
func agentError(err error, hint string) error {
	var ae *client.Error
	if errors.As(err, &ae) && errors.Is(err, errdefs.ErrNotFound) && hint != "" {
		return fmt.Errorf("%s; %s", toolError(err), hint)
	}
	return toolError(err)
}

var (
	// routeRE matches REST routes such as "POST /v1/sandboxes/sbx-1/resume".
	routeRE = regexp.MustCompile(`(?:GET|POST|PUT|DELETE) /v1/(sandboxes|snapshots)(?:/[^/\s)]+)?(?:/([a-z_]+))?`)
	// orRE matches "X or X" left after a route became the tool it names.
	orRE = regexp.MustCompile(`\b(\w+) or (\w+)\b`)
)

// restToTools rewrites REST routes named in an engine message as the MCP
// tools that do the same.
func restToTools(msg string) string {
	msg = routeRE.ReplaceAllStringFunc(msg, func(route string) string {
		m := routeRE.FindStringSubmatch(route)
		method, _, _ := strings.Cut(route, " ")
		kind := map[string]string{"sandboxes": "sandbox", "snapshots": "snapshot"}[m[1]]
		if verb := m[2]; verb != "" {
			return kind + "_" + verb
		}
		switch method {
		case "DELETE":
			return kind + "_delete"
		case "POST":
			if kind == "sandbox" {
				return "sandbox_create"
			}
			return "sandbox_snapshot"
		}
		if strings.Count(route, "/") > 2 && kind == "sandbox" {
			return "sandbox_get"
		}
		return kind + "_list"
	})
	return orRE.ReplaceAllStringFunc(msg, func(s string) string {
		m := orRE.FindStringSubmatch(s)
		if m[1] == m[2] {
			return m[1]
		}
		return s
	})
}
