package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/volant-sh/volant/sandbox"
)

const egressUsage = `usage: volar sandbox egress ID [--default deny|allow] [--allow RULES] [--deny RULES] [--reset]

Without flags, shows the sandbox's egress policy and its counters. With
--default, --allow or --deny, replaces the policy (RULES are comma-separated
domain names, *.suffix globs and IPv4 CIDRs); --reset goes back to the
operator's default.`

// sandboxEgress shows or sets a sandbox's egress policy.
func sandboxEgress(e *env, args []string) error {
	c := e.newCommand(egressUsage)
	def := c.fs.String("default", "", "what no rule names gets: `deny` or allow")
	allow := c.fs.String("allow", "", "comma-separated `RULES` to allow")
	deny := c.fs.String("deny", "", "comma-separated `RULES` to deny")
	reset := c.fs.Bool("reset", false, "drop the sandbox's own policy: the operator's default applies")
	pos, api, err := c.open(e, args, 1, 1)
	if err != nil {
		return err
	}
	set := *def != "" || *allow != "" || *deny != ""
	if set && *reset {
		return c.fail("--reset excludes --default, --allow and --deny")
	}
	ctx, raw := e.rawContext()
	var info *sandbox.EgressInfo
	switch {
	case *reset:
		info, err = api.ResetEgress(ctx, pos[0])
	case set:
		info, err = api.SetEgress(ctx, pos[0], sandbox.EgressPolicy{Default: *def, Allow: splitRules(*allow), Deny: splitRules(*deny)})
	default:
		info, err = api.GetEgress(ctx, pos[0])
	}
	if err != nil {
		return err
	}
	e.show(*raw, []string{info.Sandbox}, func() {
		t := newKV(e.stdout)
		t.row("sandbox:", info.Sandbox)
		t.row("enforced:", fmt.Sprint(info.Enforced))
		own := "(operator default)"
		if info.Policy != nil {
			own = "own"
		}
		t.row("policy:", own)
		t.row("default:", orDash(info.Effective.Default))
		t.row("allow:", orDash(strings.Join(info.Effective.Allow, ", ")))
		t.row("deny:", orDash(strings.Join(info.Effective.Deny, ", ")))
		if info.Ceiling != nil {
			t.row("ceiling:", fmt.Sprintf("default %s; allow %s; deny %s", orDash(info.Ceiling.Default),
				orDash(strings.Join(info.Ceiling.Allow, ", ")), orDash(strings.Join(info.Ceiling.Deny, ", "))))
		}
		s := info.Stats
		t.row("dns:", fmt.Sprintf("%d allowed, %d denied", s.DNSAllowed, s.DNSDenied))
		t.row("connections:", fmt.Sprintf("%d allowed, %d denied", s.ConnAllowed, s.ConnDenied))
		t.row("secrets injected:", fmt.Sprint(s.SecretsInjected))
		t.flush()
	})
	return nil
}

func splitRules(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

const secretUsage = `usage: volar secret COMMAND [ARGS]

Commands:
  put NAME [--from-file PATH | --from-env VAR]
              store a secret; the value is read from stdin unless a flag
              says otherwise (never from the command line, which others see)
  ls          list the names of stored secrets (values are never shown)
  rm NAME...  delete secrets

Give a sandbox a stored secret with sandbox create's --secret
VAR=NAME@host[,host...].
`

func cmdSecret(e *env, args []string) error {
	return subcommand(e, "secret", args, map[string]func(*env, []string) error{
		"put":    secretPut,
		"ls":     secretList,
		"list":   secretList,
		"rm":     secretRemove,
		"delete": secretRemove,
	}, secretUsage)
}

func secretPut(e *env, args []string) error {
	c := e.newCommand("volar secret put NAME [--from-file PATH | --from-env VAR]")
	file := c.fs.String("from-file", "", "read the value from `PATH`")
	envVar := c.fs.String("from-env", "", "take the value from the environment variable `VAR`")
	pos, api, err := c.open(e, args, 1, 1)
	if err != nil {
		return err
	}
	var value string
	switch {
	case *file != "" && *envVar != "":
		return c.fail("--from-file and --from-env exclude each other")
	case *file != "":
		b, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		value = string(b)
	case *envVar != "":
		v, ok := os.LookupEnv(*envVar)
		if !ok {
			return c.fail("environment variable %s is not set", *envVar)
		}
		value = v
	default:
		b, err := io.ReadAll(io.LimitReader(e.stdin, 64*1024+1))
		if err != nil {
			return err
		}
		value = string(b)
	}
	value = strings.TrimRight(value, "\r\n")
	ctx, raw := e.rawContext()
	info, err := api.PutSecret(ctx, sandbox.PutSecretRequest{Name: pos[0], Value: value})
	if err != nil {
		return err
	}
	e.show(*raw, []string{info.Name}, func() { fmt.Fprintln(e.stdout, "stored secret", info.Name) })
	return nil
}

func secretList(e *env, args []string) error {
	return listCommand(e, args, "volar secret ls", (*api).ListSecrets,
		func(s *sandbox.SecretInfo) string { return s.Name }, func(w io.Writer, items []*sandbox.SecretInfo) {
			t := newTable(w, "NAME", "CREATED")
			for _, s := range items {
				t.row(s.Name, ago(s.CreatedAt))
			}
			t.flush()
		})
}

func secretRemove(e *env, args []string) error {
	c := e.newCommand("volar secret rm NAME...")
	pos, api, err := c.open(e, args, 1, -1)
	if err != nil {
		return err
	}
	return forEach(e, pos, func(name string) error {
		return api.DeleteSecret(e.ctx, name)
	})
}

// createEgressFlags adds sandbox create's egress and secret flags to c;
// apply fills them into b after parsing.
func createEgressFlags(c *command) (apply func(b *sandbox.Spec) error) {
	def := c.fs.String("egress-default", "", "egress policy default: `deny` or allow (bridge network only)")
	allow := c.fs.String("allow", "", "egress: comma-separated `RULES` to allow (names, *.suffix, IPv4 CIDRs)")
	deny := c.fs.String("deny", "", "egress: comma-separated `RULES` to deny")
	var secrets listFlag
	c.fs.Var(&secrets, "secret", "give the stored secret NAME as a placeholder in `VAR=NAME@host[,host...]` (repeatable)")
	return func(b *sandbox.Spec) error {
		if *def != "" || *allow != "" || *deny != "" {
			b.Egress = &sandbox.EgressPolicy{Default: *def, Allow: splitRules(*allow), Deny: splitRules(*deny)}
		}
		for _, s := range secrets {
			v, rest, ok := strings.Cut(s, "=")
			name, hosts, ok2 := strings.Cut(rest, "@")
			if !ok || !ok2 || v == "" || name == "" || hosts == "" {
				return c.fail("--secret %q: write VAR=NAME@host[,host...]; store the value first with 'volar secret put NAME'", s)
			}
			if b.Secrets == nil {
				b.Secrets = map[string]sandbox.SecretRef{}
			}
			b.Secrets[v] = sandbox.SecretRef{Name: name, Hosts: splitRules(hosts)}
		}
		return nil
	}
}
