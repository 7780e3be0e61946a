package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs moves each command's flags before its positional arguments,
// so that flags may come anywhere, as in grep and ripgrep
// (`detect out.txt --json`): urfave/cli stops parsing flags at the first
// positional argument. "--" ends the flags; everything after it stays
// positional, in order. A flag that takes a value keeps the argument after
// it (unless written --flag=value). Unknown flags are moved too, so the
// parser reports them.
func reorderArgs(commands []*cli.Command, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	// Global flags before the command name stay where they are.
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") && rest[0] != "--" {
		out = append(out, rest[0])
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return out
	}
	cmd := findCommand(commands, rest[0])
	if cmd == nil {
		return append(out, rest...)
	}
	out = append(out, rest[0])
	return append(out, reorderCommand(cmd, rest[1:])...)
}

// reorderCommand reorders one command's arguments (after its name),
// descending into a subcommand named by the first positional argument.
func reorderCommand(cmd *cli.Command, args []string) []string {
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			// Flags end here; "--" stays in front of the positional
			// arguments so that one starting with "-" is not a flag.
			return append(append(append(flags, "--"), positional...), args[i+1:]...)
		case a == "-" || !strings.HasPrefix(a, "-"):
			if len(positional) == 0 && len(cmd.Subcommands) > 0 {
				if sub := findCommand(cmd.Subcommands, a); sub != nil {
					return append(append(flags, a), reorderCommand(sub, args[i+1:])...)
				}
			}
			positional = append(positional, a)
		default:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return append(flags, positional...)
}

// findCommand returns the command named (or aliased) name.
func findCommand(commands []*cli.Command, name string) *cli.Command {
	for _, c := range commands {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// suggest returns the known name nearest to name by edit distance, if it
// is close enough to be a typo.
func suggest(name string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= max(1, len(name)/3) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance (with transpositions counted
// as one edit) between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// commandNames lists the visible command names.
func commandNames(commands []*cli.Command) []string {
	var names []string
	for _, c := range commands {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	sort.Strings(names)
	return names
}

// usageError is a short usage error: what was wrong, the nearest known
// name if any, and where to read more. It exits 2.
func usageError(what, name string, known []string, help string) error {
	msg := fmt.Sprintf("%s %q", what, name)
	if s := suggest(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return fmt.Errorf("%s; see '%s'", msg, help)
}

// shortUsageErrors makes every command answer a usage error (an unknown
// flag, a missing flag value) with one line on stderr naming the nearest
// known flag, instead of its whole help on stdout; the error exits 2.
func shortUsageErrors(path string, commands []*cli.Command) {
	for _, c := range commands {
		name := strings.TrimSpace(path + " " + c.Name)
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			msg := err.Error()
			const undefined = "flag provided but not defined: "
			if i := strings.Index(msg, undefined); i >= 0 {
				var known []string
				for _, f := range c.Flags {
					for _, n := range f.Names() {
						known = append(known, strings.Repeat("-", min(len(n), 2))+n)
					}
				}
				flag := strings.TrimSpace(msg[i+len(undefined):])
				if !strings.HasPrefix(flag, "--") {
					flag = "-" + flag // the parser reports -name for --name
				}
				return usageError(name+": unknown flag", flag, known, "tracemark "+name+" --help")
			}
			return fmt.Errorf("%s: %v; see 'tracemark %s --help'", name, err, name)
		}
		shortUsageErrors(name, c.Subcommands)
	}
}
