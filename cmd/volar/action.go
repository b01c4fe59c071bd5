package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/volant-sh/volant/apiclient"
)

const actionUsage = `usage: volar action ID PLUGIN ACTION [JSON|-] [--arg KEY=VALUE]...

Calls a plugin's action in a sandbox of that plugin's runtime and prints
its JSON answer. The input is the JSON argument, or stdin for -, or an
object built from --arg flags; without any, it is {}. An --arg VALUE that
is a JSON number, boolean, object, array or "quoted string" is sent as
that; any other VALUE as a string. 'volar plugin get PLUGIN' lists the
actions.

An answer of a binary media type (a screenshot, a PDF) is written to the
file -o names, or to stdout when it is not a terminal. --progress prints
the progress lines of an action that streams (python's run_code output)
to stderr as they come.
`

func cmdAction(e *env, args []string) error {
	c := e.newCommand("volar action ID PLUGIN ACTION [JSON|-] [--arg KEY=VALUE]...")
	c.usage = actionUsage
	var kvs listFlag
	c.fs.Var(&kvs, "arg", "an input property, as `KEY=VALUE` (repeatable)")
	out := c.fs.String("o", "", "write a binary answer to `FILE`")
	progress := c.fs.Bool("progress", false, "print the action's progress lines to stderr as they come")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.nargs(pos, 3, 4); err != nil {
		return err
	}
	var input []byte
	switch {
	case len(pos) == 4 && len(kvs) > 0:
		return c.fail("give the input as JSON or as --arg flags, not both")
	case len(pos) == 4 && pos[3] == "-":
		if e.stdin == nil {
			return fmt.Errorf("no standard input to read the action's input from")
		}
		if input, err = io.ReadAll(e.stdin); err != nil {
			return fmt.Errorf("reading the action's input from stdin: %w", err)
		}
		if len(bytes.TrimSpace(input)) > 0 && !json.Valid(input) {
			return fmt.Errorf("the input on stdin is not JSON")
		}
	case len(pos) == 4:
		input = []byte(pos[3])
		if !json.Valid(input) {
			return c.fail("the input %q is not JSON: quote it for the shell, e.g. '{\"key\": \"value\"}', or use --arg KEY=VALUE", clip(pos[3], 80))
		}
	case len(kvs) > 0:
		if input, err = argsObject(kvs); err != nil {
			return c.fail("%v", err)
		}
	}
	api, err := e.api()
	if err != nil {
		return err
	}
	var opts apiclient.ActionOptions
	if *progress {
		opts.Progress = func(line json.RawMessage) {
			var l struct{ Message, Text string }
			_ = json.Unmarshal(line, &l)
			if l.Message == "" {
				l.Message = l.Text
			}
			fmt.Fprintln(e.stderr, strings.TrimRight(l.Message, "\n"))
		}
	}
	ans, err := api.CallAction(e.ctx, pos[0], pos[1], pos[2], input, opts)
	if err != nil {
		return err
	}
	if ans.ContentType != "" && ans.ContentType != "application/json" && !strings.HasSuffix(ans.ContentType, "+json") {
		switch {
		case *out != "":
			if err := os.WriteFile(*out, ans.Body, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "wrote %s (%s, %d bytes)\n", *out, ans.ContentType, len(ans.Body))
		case isTerminal(e.stdout):
			return fmt.Errorf("the answer is %s (%d bytes), not text: give -o FILE, or redirect stdout", ans.ContentType, len(ans.Body))
		default:
			_, err = e.stdout.Write(ans.Body)
			return err
		}
		return nil
	}
	raw := ans.Body
	if e.g.json {
		printJSON(e.stdout, raw)
		return nil
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, bytes.TrimSpace(raw), "", "  "); err != nil {
		printJSON(e.stdout, raw)
		return nil
	}
	printJSON(e.stdout, pretty.Bytes())
	return nil
}

// argsObject builds a JSON object of KEY=VALUE flags; a later key wins.
func argsObject(kvs []string) ([]byte, error) {
	obj := map[string]json.RawMessage{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--arg %q: write it as KEY=VALUE", kv)
		}
		obj[k] = argValue(v)
	}
	return json.Marshal(obj)
}

// argValue is v as JSON when it is a JSON value other than null, else
// the JSON string v.
func argValue(v string) json.RawMessage {
	if t := strings.TrimSpace(v); t != "" && t != "null" && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(v)
	return b
}
