package edgegrid

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	testSecret      = "Zm9vYmFyYmF6cXV4+/SECRET+value/=="
	testClientToken = "akab-CLIENTTOKEN-abcdefghij-klmnopqrstuvwxyz"
	testAccessToken = "akab-ACCESSTOKEN-abcdefghij-klmnopqrstuvwxyz"
)

// fullSection is a complete .edgerc section body.
const fullSection = "host = https://akab-file.luna.akamaiapis.net/\n" +
	"client_token = " + testClientToken + "\n" +
	"client_secret = " + testSecret + "\n" +
	"access_token = " + testAccessToken + "\n"

// envMap returns a LookupEnv reading m.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// writeEdgerc writes content to a fresh .edgerc and returns its path.
func writeEdgerc(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), ".edgerc")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noHome fails the test if Load needs a home directory.
func noHome(t *testing.T) func() (string, error) {
	return func() (string, error) {
		t.Error("HomeDir called")
		return "", errors.New("no home")
	}
}

func TestLoadFile(t *testing.T) {
	path := writeEdgerc(t, "[default]\nhost = other\n\n[ccu]\n"+fullSection+"account_key = 1-ABC:1-DEF\n")
	c, err := Load(LoadOptions{Path: path, LookupEnv: envMap(nil), HomeDir: noHome(t)})
	if err != nil {
		t.Fatal(err)
	}
	want := Credentials{
		Host:         "akab-file.luna.akamaiapis.net",
		ClientToken:  testClientToken,
		ClientSecret: testSecret,
		AccessToken:  testAccessToken,
		MaxBody:      DefaultMaxBody,
		AccountKey:   "1-ABC:1-DEF",
	}
	if c != want {
		t.Errorf("got %#v\nwant %#v", c, want)
	}
	if c.ClientSecret != testSecret {
		t.Error("secret altered")
	}
}

func TestLoadFileFormats(t *testing.T) {
	tests := []struct {
		name, section string
		wantHost      string
		wantMaxBody   int
	}{
		{"quoted values and comments", "; purge credentials\n[ccu] # fast purge\nhost = \"akab-q.luna.akamaiapis.net\" ; quoted\n" +
			"client_token = '" + testClientToken + "'\nclient_secret = " + testSecret + " ; inline comment\naccess_token = " + testAccessToken + " # inline\n",
			"akab-q.luna.akamaiapis.net", DefaultMaxBody},
		{"max-body", "[ccu]\n" + fullSection + "max-body = 60000\n", "akab-file.luna.akamaiapis.net", 60000},
		{"max_body", "[ccu]\n" + fullSection + "max_body = 70000\n", "akab-file.luna.akamaiapis.net", 70000},
		{"max_body zero is default", "[ccu]\n" + fullSection + "max_body = 0\n", "akab-file.luna.akamaiapis.net", DefaultMaxBody},
		{"host with http scheme", "[ccu]\n" + fullSection + "host = HTTP://akab-h.luna.akamaiapis.net//\n", "akab-h.luna.akamaiapis.net", DefaultMaxBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(LoadOptions{Path: writeEdgerc(t, tt.section), LookupEnv: envMap(nil)})
			if err != nil {
				t.Fatal(err)
			}
			if c.Host != tt.wantHost || c.MaxBody != tt.wantMaxBody {
				t.Errorf("host %q max body %d, want %q %d", c.Host, c.MaxBody, tt.wantHost, tt.wantMaxBody)
			}
			if c.ClientSecret != testSecret || c.ClientToken != testClientToken || c.AccessToken != testAccessToken {
				t.Errorf("credentials not read verbatim: %#v", c)
			}
		})
	}
}

func TestLoadEnv(t *testing.T) {
	full := func(prefix string) map[string]string {
		return map[string]string{
			prefix + "HOST":          "https://akab-env.luna.akamaiapis.net/",
			prefix + "CLIENT_TOKEN":  testClientToken,
			prefix + "CLIENT_SECRET": testSecret,
			prefix + "ACCESS_TOKEN":  testAccessToken,
		}
	}
	tests := []struct {
		name    string
		section string
		env     map[string]string
		wantErr bool
	}{
		{"section-specific for ccu", "", full("AKAMAI_CCU_"), false},
		{"bare for ccu", "", full("AKAMAI_"), false},
		{"bare for default", "default", full("AKAMAI_"), false},
		{"AKAMAI_DEFAULT_ not consulted", "default", full("AKAMAI_DEFAULT_"), true},
		{"other section", "papi", full("AKAMAI_PAPI_"), false},
		{"other section's variables ignored", "", full("AKAMAI_PAPI_"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(LoadOptions{
				Path:      filepath.Join(t.TempDir(), "missing"),
				Section:   tt.section,
				LookupEnv: envMap(tt.env),
			})
			if tt.wantErr {
				var me *MissingCredentialsError
				if !errors.As(err, &me) {
					t.Fatalf("err = %v, want *MissingCredentialsError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Host != "akab-env.luna.akamaiapis.net" || c.ClientSecret != testSecret || c.MaxBody != DefaultMaxBody {
				t.Errorf("got %#v", c)
			}
		})
	}
}

func TestLoadPrecedence(t *testing.T) {
	path := writeEdgerc(t, "[ccu]\n"+fullSection+"max_body = 60000\naccount_key = file-key\n")
	tests := []struct {
		name   string
		env    map[string]string
		opts   LoadOptions
		want   func(Credentials) string
		expect string
	}{
		{"file only", nil, LoadOptions{}, func(c Credentials) string { return c.Host }, "akab-file.luna.akamaiapis.net"},
		{"bare env beats file", map[string]string{"AKAMAI_HOST": "bare"}, LoadOptions{},
			func(c Credentials) string { return c.Host }, "bare"},
		{"section env beats bare env", map[string]string{"AKAMAI_HOST": "bare", "AKAMAI_CCU_HOST": "ccu"}, LoadOptions{},
			func(c Credentials) string { return c.Host }, "ccu"},
		{"blank env is unset", map[string]string{"AKAMAI_CCU_HOST": "  ", "AKAMAI_HOST": ""}, LoadOptions{},
			func(c Credentials) string { return c.Host }, "akab-file.luna.akamaiapis.net"},
		{"field by field", map[string]string{"AKAMAI_CLIENT_SECRET": "env-secret"}, LoadOptions{},
			func(c Credentials) string { return c.Host + " " + c.ClientSecret + " " + c.AccessToken },
			"akab-file.luna.akamaiapis.net env-secret " + testAccessToken},
		{"max body env beats file", map[string]string{"AKAMAI_MAX_BODY": "90000"}, LoadOptions{},
			func(c Credentials) string { return strconv.Itoa(c.MaxBody) }, "90000"},
		{"account key: file", nil, LoadOptions{},
			func(c Credentials) string { return c.AccountKey }, "file-key"},
		{"account key: bare env", map[string]string{"AKAMAI_ACCOUNT_KEY": "bare"}, LoadOptions{},
			func(c Credentials) string { return c.AccountKey }, "bare"},
		{"account key: section env", map[string]string{"AKAMAI_ACCOUNT_KEY": "bare", "AKAMAI_CCU_ACCOUNT_KEY": "ccu"}, LoadOptions{},
			func(c Credentials) string { return c.AccountKey }, "ccu"},
		{"account key: AKAMAI_EDGERC_ACCOUNT_KEY", map[string]string{"AKAMAI_CCU_ACCOUNT_KEY": "ccu", EnvEdgercAccountKey: "edgerc"}, LoadOptions{},
			func(c Credentials) string { return c.AccountKey }, "edgerc"},
		{"account key: option", map[string]string{EnvEdgercAccountKey: "edgerc"}, LoadOptions{AccountKey: "flag"},
			func(c Credentials) string { return c.AccountKey }, "flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Path = path
			opts.LookupEnv = envMap(tt.env)
			c, err := Load(opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.want(c); got != tt.expect {
				t.Errorf("got %q, want %q", got, tt.expect)
			}
		})
	}
}

func TestLoadPathAndSection(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".edgerc"), []byte("[ccu]\n"+fullSection+"[papi]\n"+strings.ReplaceAll(fullSection, "akab-file", "akab-papi")), 0o600); err != nil {
		t.Fatal(err)
	}
	other := writeEdgerc(t, "[ccu]\n"+strings.ReplaceAll(fullSection, "akab-file", "akab-other"))
	homeDir := func() (string, error) { return home, nil }
	tests := []struct {
		name     string
		opts     LoadOptions
		env      map[string]string
		wantHost string
	}{
		{"~/.edgerc [ccu] by default", LoadOptions{}, nil, "akab-file.luna.akamaiapis.net"},
		{"AKAMAI_EDGERC_SECTION", LoadOptions{}, map[string]string{EnvEdgercSection: "papi"}, "akab-papi.luna.akamaiapis.net"},
		{"Section beats AKAMAI_EDGERC_SECTION", LoadOptions{Section: "ccu"}, map[string]string{EnvEdgercSection: "papi"}, "akab-file.luna.akamaiapis.net"},
		{"AKAMAI_EDGERC", LoadOptions{}, map[string]string{EnvEdgerc: other}, "akab-other.luna.akamaiapis.net"},
		{"Path beats AKAMAI_EDGERC", LoadOptions{Path: "~/.edgerc"}, map[string]string{EnvEdgerc: other}, "akab-file.luna.akamaiapis.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.HomeDir = homeDir
			opts.LookupEnv = envMap(tt.env)
			c, err := Load(opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.Host != tt.wantHost {
				t.Errorf("host %q, want %q", c.Host, tt.wantHost)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	tests := []struct {
		name        string
		opts        LoadOptions
		env         map[string]string
		wantMissing []string
		wantLooked  []string
	}{
		{
			name:        "no file, partial env",
			opts:        LoadOptions{Path: missing},
			env:         map[string]string{"AKAMAI_HOST": "h", "AKAMAI_CCU_CLIENT_TOKEN": testClientToken},
			wantMissing: []string{"client_secret", "access_token"},
			wantLooked:  []string{missing + " [ccu] (file not found)", "environment AKAMAI_CCU_* / AKAMAI_*"},
		},
		{
			name:        "no such section",
			opts:        LoadOptions{Path: writeEdgerc(t, "[default]\n"+fullSection), Section: "ccu"},
			wantMissing: []string{"host", "client_token", "client_secret", "access_token"},
			wantLooked:  []string{"[ccu] (no such section)", "environment AKAMAI_CCU_* / AKAMAI_*"},
		},
		{
			name:        "incomplete section, default section",
			opts:        LoadOptions{Path: writeEdgerc(t, "[default]\nhost = h\nclient_secret = "+testSecret+"\n"), Section: "default"},
			wantMissing: []string{"client_token", "access_token"},
			wantLooked:  []string{"[default]", "environment AKAMAI_*"},
		},
		{
			name: "home directory unknown",
			opts: LoadOptions{HomeDir: func() (string, error) { return "", errors.New("$HOME is not defined") }},
			env: map[string]string{"AKAMAI_HOST": "h", "AKAMAI_CLIENT_TOKEN": testClientToken,
				"AKAMAI_ACCESS_TOKEN": testAccessToken},
			wantMissing: []string{"client_secret"},
			wantLooked:  []string{"~/.edgerc [ccu] (home directory unknown: $HOME is not defined)", "environment AKAMAI_CCU_* / AKAMAI_*"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.LookupEnv = envMap(tt.env)
			c, err := Load(opts)
			var me *MissingCredentialsError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want *MissingCredentialsError", err)
			}
			if c != (Credentials{}) {
				t.Errorf("partial credentials returned: %v", c)
			}
			if !slices.Equal(me.Missing, tt.wantMissing) {
				t.Errorf("Missing = %q, want %q", me.Missing, tt.wantMissing)
			}
			if len(me.Looked) != len(tt.wantLooked) {
				t.Fatalf("Looked = %q, want %q", me.Looked, tt.wantLooked)
			}
			for i, w := range tt.wantLooked {
				if !strings.HasSuffix(me.Looked[i], w) {
					t.Errorf("Looked[%d] = %q, want suffix %q", i, me.Looked[i], w)
				}
			}
			msg := err.Error()
			for _, s := range append(slices.Clone(tt.wantMissing), tt.wantLooked...) {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not mention %q", msg, s)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Run("malformed file", func(t *testing.T) {
		path := writeEdgerc(t, "[ccu]\nhost = h\n"+strings.TrimSuffix(testSecret, "==")+"\n")
		_, err := Load(LoadOptions{Path: path, LookupEnv: envMap(nil)})
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("err = %v, want *ParseError", err)
		}
		if pe.Path != path || pe.Line != 3 || !strings.Contains(err.Error(), path) {
			t.Errorf("err = %v (%+v)", err, pe)
		}
	})
	t.Run("unreadable file", func(t *testing.T) {
		dir := t.TempDir() // a directory cannot be read as a file, even by root
		_, err := Load(LoadOptions{Path: dir, LookupEnv: envMap(nil)})
		var me *MissingCredentialsError
		if err == nil || errors.As(err, &me) {
			t.Fatalf("err = %v, want a read error", err)
		}
	})
	for _, tt := range []struct {
		name, file string
		env        map[string]string
		key        string
	}{
		{"max_body not an integer", "max_body = 64k\n", nil, "max_body"},
		{"max-body negative", "max-body = -1\n", nil, "max-body"},
		{"max body out of range", "max_body = 99999999999999999999999\n", nil, "max_body"},
		{"env max body", "", map[string]string{"AKAMAI_CCU_MAX_BODY": "lots"}, "AKAMAI_CCU_MAX_BODY"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeEdgerc(t, "[ccu]\n"+fullSection+tt.file)
			_, err := Load(LoadOptions{Path: path, LookupEnv: envMap(tt.env)})
			var ie *InvalidValueError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *InvalidValueError", err)
			}
			if ie.Key != tt.key || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("err = %v, want key %s", err, tt.key)
			}
			for _, v := range []string{"64k", "-1", "9999", "lots", testSecret} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error %q contains value %q", err, v)
				}
			}
		})
	}
}

func TestLoadMaxBodyWarning(t *testing.T) {
	for _, tt := range []struct {
		maxBody  string
		wantWarn bool
	}{
		{"49999", true},
		{"50000", false},
		{"", false},
	} {
		t.Run(tt.maxBody, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, nil))
			file := "[ccu]\n" + fullSection
			if tt.maxBody != "" {
				file += "max-body = " + tt.maxBody + "\n"
			}
			if _, err := Load(LoadOptions{Path: writeEdgerc(t, file), LookupEnv: envMap(nil), Logger: logger}); err != nil {
				t.Fatal(err)
			}
			if !tt.wantWarn {
				if buf.Len() > 0 {
					t.Errorf("unexpected log: %s", buf.String())
				}
				return
			}
			var rec struct {
				Level   string `json:"level"`
				MaxBody int    `json:"max_body"`
			}
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("log %q: %v", buf.String(), err)
			}
			if rec.Level != "WARN" || rec.MaxBody != 49999 {
				t.Errorf("log = %s", buf.String())
			}
			if strings.Contains(buf.String(), testSecret) {
				t.Error("log leaks the secret")
			}
		})
	}
}
