package edgegrid

import (
	"os"
	"strings"
)

// Environment variables that choose the .edgerc file, its section and an
// account switch key, as honoured by the Akamai CLI.
const (
	// EnvEdgerc names the variable holding the .edgerc path.
	EnvEdgerc = "AKAMAI_EDGERC"
	// EnvEdgercSection names the variable holding the .edgerc section.
	EnvEdgercSection = "AKAMAI_EDGERC_SECTION"
	// EnvEdgercAccountKey names the variable holding an account switch key
	// that overrides the section's, like the CLI's --account-key flag.
	EnvEdgercAccountKey = "AKAMAI_EDGERC_ACCOUNT_KEY"
)

// defaultEdgercSection is the section Akamai's libraries read by default.
// Its environment variables carry no section infix (AKAMAI_HOST, not
// AKAMAI_DEFAULT_HOST).
const defaultEdgercSection = "default"

// env looks up credential environment variables for one .edgerc section.
type env struct {
	lookup   func(string) (string, bool)
	prefixes []string // in order of precedence
}

// newEnv returns the environment view for section. For the section
// "default" only the bare AKAMAI_<FIELD> variables are consulted, as in
// Akamai's edgegrid-golang; for any other section S, AKAMAI_<UPPER(S)>_<FIELD>
// is consulted first and the bare AKAMAI_<FIELD> second.
func newEnv(section string, lookup func(string) (string, bool)) env {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	e := env{lookup: lookup}
	if section != defaultEdgercSection {
		e.prefixes = append(e.prefixes, "AKAMAI_"+strings.ToUpper(section)+"_")
	}
	e.prefixes = append(e.prefixes, "AKAMAI_")
	return e
}

// get returns the first non-blank variable among the prefixed forms of
// field (e.g. "CLIENT_SECRET") and its name. Surrounding white space is
// removed; a variable set to blank counts as unset.
func (e env) get(field string) (val, name string, ok bool) {
	for _, p := range e.prefixes {
		if v, found := e.value(p + field); found {
			return v, p + field, true
		}
	}
	return "", "", false
}

// value returns the non-blank, trimmed value of the variable name.
func (e env) value(name string) (string, bool) {
	v, ok := e.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// describe returns the place searched, for MissingCredentialsError.Looked.
func (e env) describe() string {
	parts := make([]string, len(e.prefixes))
	for i, p := range e.prefixes {
		parts[i] = p + "*"
	}
	return "environment " + strings.Join(parts, " / ")
}
