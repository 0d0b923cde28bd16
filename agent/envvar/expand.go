// Package envvar builds a container's environment the way kubelet does:
// Kubernetes $(VAR) expansion, env values taken from the downward API
// (fieldRef and resourceFieldRef), and expansion of command and args against
// the resulting environment.
package envvar

import (
	"strings"
)

// Expand replaces every $(NAME) in s with lookup(NAME), following Kubernetes'
// rules exactly:
//
//   - "$$" is an escaped "$" (so "$$(A)" yields the literal "$(A)");
//   - a reference whose name lookup does not know is left as "$(NAME)";
//   - an unterminated "$(" and a "$" followed by anything else stay as they are.
//
// Expansion is not recursive: substituted values are not scanned again.
func Expand(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	last := 0 // s[last:] has not been copied yet
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			continue
		}
		b.WriteString(s[last:i])
		rest := s[i+1:]
		switch rest[0] {
		case '$': // escaped operator
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(rest, ')')
			if end < 0 { // unterminated: keep "$(" and go on after it
				b.WriteString("$(")
				i++
				break
			}
			name := rest[1:end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += end + 1
		default: // a lone "$": keep it and the byte after it
			b.WriteString(s[i : i+2])
			i++
		}
		last = i + 1
	}
	return b.String() + s[last:]
}

// LookupEnv returns a lookup function over KEY=VALUE pairs; a later pair wins
// over an earlier one with the same key.
func LookupEnv(env []string) func(string) (string, bool) {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// ExpandCommand expands $(VAR) references in each of args against env
// (KEY=VALUE pairs, usually the output of ContainerEnv), as kubelet does for a
// container's command and args. nil stays nil.
func ExpandCommand(args []string, env []string) []string {
	if args == nil {
		return nil
	}
	lookup := LookupEnv(env)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = Expand(a, lookup)
	}
	return out
}
