package edgegrid

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxPurgeBody is the largest Fast Purge request body Akamai accepts. A
// MaxBody below it leaves the tail of large purge bodies unsigned.
const maxPurgeBody = 50000

// LoadOptions says where Load looks.
type LoadOptions struct {
	// Path is the .edgerc path. "" means $AKAMAI_EDGERC, else ~/.edgerc.
	// A leading "~/" is expanded with HomeDir.
	Path string
	// Section is the .edgerc section. "" means $AKAMAI_EDGERC_SECTION, else
	// DefaultSection ("ccu").
	Section string
	// AccountKey, when set (e.g. from an --account-key flag), overrides every
	// other source of the account switch key.
	AccountKey string
	// LookupEnv reads environment variables; nil means os.LookupEnv. Tests
	// inject a map.
	LookupEnv func(string) (string, bool)
	// HomeDir returns the home directory; nil means os.UserHomeDir.
	HomeDir func() (string, error)
	// Logger receives warnings, such as a max_body below 50000; nil discards
	// them.
	Logger *slog.Logger
}

// Load returns the credentials of one .edgerc section overlaid with the
// environment, field by field.
//
// The file is read if it exists; a missing file (or section) is not an
// error as long as the environment supplies every required field, but an
// unreadable or malformed file is. Each field is taken from the first of:
// AKAMAI_<SECTION>_<FIELD> (not consulted for the section "default"), the
// bare AKAMAI_<FIELD>, then the file. FIELD is HOST, CLIENT_TOKEN,
// CLIENT_SECRET, ACCESS_TOKEN, MAX_BODY or ACCOUNT_KEY; the file keys are
// host, client_token, client_secret, access_token, max_body (or max-body)
// and account_key. Environment variables set to blank count as unset. The
// account switch key is further overridden by $AKAMAI_EDGERC_ACCOUNT_KEY and
// then by LoadOptions.AccountKey.
//
// A scheme ("https://") and trailing slashes are removed from the host. A
// zero max_body becomes DefaultMaxBody; one below 50000 (Fast Purge's body
// limit) is logged as a warning.
//
// Load returns a *MissingCredentialsError naming every missing field and
// every place looked, an *InvalidValueError for an unusable max_body, a
// *ParseError for a malformed file, or a wrapped I/O error. No error contains
// a credential value.
func Load(opts LoadOptions) (Credentials, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	home := opts.HomeDir
	if home == nil {
		home = os.UserHomeDir
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	section := opts.Section
	if section == "" {
		section = DefaultSection
		if v, ok := nonBlank(lookup, EnvEdgercSection); ok {
			section = v
		}
	}
	e := newEnv(section, lookup)

	var (
		looked  []string
		file    map[string]string
		fileSrc string
	)
	path, err := edgercPath(opts.Path, lookup, home)
	if err != nil {
		looked = append(looked, fmt.Sprintf("~/.edgerc [%s] (%v)", section, err))
	} else {
		fileSrc = fmt.Sprintf("%s [%s]", path, section)
		sections, err := readEdgerc(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			looked = append(looked, fileSrc+" (file not found)")
		case err != nil:
			return Credentials{}, err
		default:
			var ok bool
			if file, ok = sections[section]; ok {
				looked = append(looked, fileSrc)
			} else {
				looked = append(looked, fileSrc+" (no such section)")
			}
		}
	}
	looked = append(looked, e.describe())

	var c Credentials
	for _, f := range [...]struct {
		dst        *string
		key, field string
	}{
		{&c.Host, "host", "HOST"},
		{&c.ClientToken, "client_token", "CLIENT_TOKEN"},
		{&c.ClientSecret, "client_secret", "CLIENT_SECRET"},
		{&c.AccessToken, "access_token", "ACCESS_TOKEN"},
		{&c.AccountKey, "account_key", "ACCOUNT_KEY"},
	} {
		if v, _, ok := e.get(f.field); ok {
			*f.dst = v
		} else if v, _, ok := fileValue(file, f.key); ok {
			*f.dst = v
		}
	}
	if v, ok := nonBlank(lookup, EnvEdgercAccountKey); ok {
		c.AccountKey = v
	}
	if opts.AccountKey != "" {
		c.AccountKey = opts.AccountKey
	}
	c.Host = cleanHost(c.Host)

	if c.MaxBody, err = maxBody(e, file, fileSrc); err != nil {
		return Credentials{}, err
	}
	if c.MaxBody < maxPurgeBody {
		logger.Warn("edgegrid: max_body is below Fast Purge's 50000-byte body limit; larger bodies are only partly signed",
			slog.Int("max_body", c.MaxBody), slog.String("section", section))
	}

	if missing := c.missing(); len(missing) > 0 {
		return Credentials{}, &MissingCredentialsError{Missing: missing, Looked: looked}
	}
	return c, nil
}

// maxBody returns the max body from the environment or the file section,
// DefaultMaxBody when neither sets it.
func maxBody(e env, file map[string]string, fileSrc string) (int, error) {
	raw, key, src, ok := "", "", "", false
	if raw, key, ok = e.get("MAX_BODY"); ok {
		src = "environment"
	} else if raw, key, ok = fileValue(file, "max_body"); ok {
		src = fileSrc
	} else {
		return DefaultMaxBody, nil
	}
	n, err := strconv.Atoi(raw)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, &InvalidValueError{Key: key, Source: src, Reason: "out of range"}
	case err != nil:
		return 0, &InvalidValueError{Key: key, Source: src, Reason: "not an integer"}
	case n < 0:
		return 0, &InvalidValueError{Key: key, Source: src, Reason: "must not be negative"}
	case n == 0:
		return DefaultMaxBody, nil
	}
	return n, nil
}

// fileValue returns the trimmed, non-blank value of key in a file section,
// also accepting the key spelled with '-' for '_' (max-body for max_body).
func fileValue(section map[string]string, key string) (val, name string, ok bool) {
	for _, k := range []string{key, strings.ReplaceAll(key, "_", "-")} {
		if v := strings.TrimSpace(section[k]); v != "" {
			return v, k, true
		}
	}
	return "", "", false
}

// nonBlank returns the trimmed value of the environment variable name if it
// is set and not blank.
func nonBlank(lookup func(string) (string, bool), name string) (string, bool) {
	v, ok := lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// edgercPath resolves the .edgerc path: explicit, else $AKAMAI_EDGERC, else
// ~/.edgerc, expanding a leading "~/".
func edgercPath(path string, lookup func(string) (string, bool), home func() (string, error)) (string, error) {
	if path == "" {
		path, _ = nonBlank(lookup, EnvEdgerc)
	}
	if path == "" {
		path = "~/.edgerc"
	}
	if path != "~" && !strings.HasPrefix(path, "~/") && !strings.HasPrefix(path, "~"+string(filepath.Separator)) {
		return path, nil
	}
	dir, err := home()
	if err != nil {
		return "", fmt.Errorf("home directory unknown: %w", err)
	}
	return filepath.Join(dir, path[1:]), nil
}

// readEdgerc opens and parses the .edgerc file at path. A missing file is
// reported with an error matching fs.ErrNotExist.
func readEdgerc(path string) (map[string]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("edgegrid: opening .edgerc: %w", err)
	}
	defer f.Close()
	sections, err := ParseEdgerc(f)
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.Path = path
	}
	return sections, err
}

// cleanHost removes white space, an http(s) scheme and trailing slashes.
func cleanHost(h string) string {
	h = strings.TrimSpace(h)
	for _, scheme := range []string{"https://", "http://"} {
		if len(h) >= len(scheme) && strings.EqualFold(h[:len(scheme)], scheme) {
			h = h[len(scheme):]
			break
		}
	}
	return strings.TrimRight(h, "/")
}
