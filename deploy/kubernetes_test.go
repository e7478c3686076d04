package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/purgebus/purgebus/health"
	"github.com/purgebus/purgebus/internal/testproc"
	"github.com/purgebus/purgebus/metrics"
)

// manifest is the part of a Kubernetes object that the test reads.
type manifest struct {
	file       string
	Kind       string `yaml:"kind"`
	APIVersion string `yaml:"apiVersion"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	StringData map[string]string `yaml:"stringData"`
	Data       map[string]string `yaml:"data"`
	Spec       struct {
		Replicas       *int `yaml:"replicas"`
		MaxUnavailable any  `yaml:"maxUnavailable"`
		MinAvailable   any  `yaml:"minAvailable"`
		Selector       struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int64 `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
		RunAsUser    *int64 `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []struct {
		Name                  string `yaml:"name"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type container struct {
	Name          string   `yaml:"name"`
	Image         string   `yaml:"image"`
	Command       []string `yaml:"command"`
	Args          []string `yaml:"args"`
	RestartPolicy string   `yaml:"restartPolicy"`
	Env           []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	StartupProbe   *probe `yaml:"startupProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"`
	} `yaml:"httpGet"`
}

// readManifests parses every YAML document under deploy/kubernetes.
func readManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes: %v", err)
	}
	var all []manifest
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var m manifest
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if m.Kind == "" || m.APIVersion == "" || m.Metadata.Name == "" {
				t.Errorf("%s: a document without kind, apiVersion or metadata.name", f)
			}
			m.file = filepath.Base(f)
			all = append(all, m)
		}
	}
	return all
}

// consumerCLI is what the consumer's --help says it reads: its flags
// (the real flag set's) and environment variables.
type consumerCLI struct {
	flags map[string]bool
	env   map[string]bool
}

var (
	helpFlagLine = regexp.MustCompile(`(?m)^  --([a-z0-9-]+) \[([A-Z0-9_, ]+)\]$`)
	helpEnvWord  = regexp.MustCompile(`\b(AKAMAI_[A-Z0-9_]*[A-Z0-9]|GOMEMLIMIT)\b`)
)

func readConsumerCLI(t *testing.T) consumerCLI {
	t.Helper()
	cmd := exec.Command(binary(t, "consumer"), "--help")
	cmd.Env = testproc.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("consumer --help: %v\n%s", err, out)
	}
	cli := consumerCLI{flags: map[string]bool{}, env: map[string]bool{}}
	for _, m := range helpFlagLine.FindAllStringSubmatch(string(out), -1) {
		cli.flags[m[1]] = true
		for v := range strings.SplitSeq(m[2], ", ") {
			cli.env[v] = true
		}
	}
	for _, m := range helpEnvWord.FindAllStringSubmatch(string(out), -1) {
		cli.env[m[1]] = true
	}
	// A sanity check of the parsing itself: these have been there from
	// the start.
	for _, f := range []string{"nats-url", "data-dir", "http-addr", "shutdown-timeout", "sandbox"} {
		if !cli.flags[f] {
			t.Fatalf("consumer --help lists no --%s: the parsing of --help is broken\n%s", f, out)
		}
	}
	if !cli.env["AKAMAI_CLIENT_SECRET"] || !cli.env["PURGEBUS_HTTP_ADDR"] {
		t.Fatalf("consumer --help names no AKAMAI_CLIENT_SECRET or PURGEBUS_HTTP_ADDR: the parsing is broken\n%s", out)
	}
	return cli
}

// TestKubernetesManifests checks the examples under deploy/kubernetes
// against the consumer, so they cannot rot: every flag and variable of a
// purgebus container is one the consumer's --help lists, the consumer
// accepts the container's command line and environment (--print-config),
// its probes and scrape path are served by the real health handler on
// the port its --http-addr gives, and the pod lets it drain and keeps it
// unprivileged.
func TestKubernetesManifests(t *testing.T) {
	all := readManifests(t)
	cli := readConsumerCLI(t)
	paths := servedPaths(t)

	secrets := map[string]map[string]string{}
	for _, m := range all {
		if m.Kind == "Secret" {
			secrets[m.Metadata.Name] = maps.Collect(maps.All(m.StringData))
			maps.Copy(secrets[m.Metadata.Name], m.Data)
		}
	}
	seen := 0
	for _, m := range all {
		if m.Kind != "Deployment" && m.Kind != "StatefulSet" {
			continue
		}
		pod := m.Spec.Template.Spec
		for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
			if c.Name != "purgebus" && !strings.Contains(c.Image, "/purgebus:") {
				continue
			}
			seen++
			t.Run(m.file+"/"+m.Metadata.Name+"/"+c.Name, func(t *testing.T) {
				checkContainer(t, m, c, cli, paths, secrets, all)
			})
		}
	}
	if seen < 2 {
		t.Errorf("found %d purgebus containers in deploy/kubernetes; want the sidecar and the fleet examples", seen)
	}
}

func checkContainer(t *testing.T, m manifest, c container, cli consumerCLI, paths map[string]bool,
	secrets map[string]map[string]string, all []manifest) {
	if len(c.Command) > 0 && !slices.Contains([]string{"consumer", "/usr/local/bin/consumer"}, c.Command[0]) {
		t.Errorf("command %q: the image's entrypoint is the consumer", c.Command)
	}
	for _, a := range c.Args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && !cli.flags[name] {
			t.Errorf("argument %q: the consumer has no flag --%s", a, name)
		}
	}
	env := testproc.Env()
	for _, e := range c.Env {
		if !cli.env[e.Name] {
			t.Errorf("variable %s: the consumer reads no such variable", e.Name)
		}
		value := e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			s, ok := secrets[ref.Name]
			if !ok {
				t.Errorf("variable %s: no Secret %q among the manifests", e.Name, ref.Name)
			} else if value, ok = s[ref.Key]; !ok {
				t.Errorf("variable %s: Secret %q has no key %q", e.Name, ref.Name, ref.Key)
			}
		}
		env = append(env, e.Name+"="+value)
	}

	// The consumer itself judges the command line and the environment.
	cmd := exec.Command(binary(t, "consumer"), append(slices.Clone(c.Args), "--print-config")...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("consumer %s --print-config with the manifest's environment: %v\n%s", strings.Join(c.Args, " "), err, out)
	}
	var cfg struct {
		HTTPAddr        string `json:"http_addr"`
		DataDir         string `json:"data_dir"`
		NATSURL         string `json:"nats_url"`
		NATSListen      string `json:"nats_listen"`
		ShutdownTimeout string `json:"shutdown_timeout"`
		SharedBudget    bool   `json:"shared_budget"`
		Akamai          string `json:"akamai"`
	}
	if i := bytes.IndexByte(out, '{'); i < 0 || json.Unmarshal(out[i:], &cfg) != nil {
		t.Fatalf("--print-config printed no JSON:\n%s", out)
	}

	// Probes reach the pod's IP: --http-addr must not be loopback, and
	// its port is the one the probes and the scrape annotation use.
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		t.Fatalf("http_addr %q: %v", cfg.HTTPAddr, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		t.Errorf("--http-addr %s is loopback: the kubelet's probes and Prometheus cannot reach it", cfg.HTTPAddr)
	}
	portNames := map[string]string{}
	for _, p := range c.Ports {
		portNames[p.Name] = strconv.Itoa(p.ContainerPort)
		if p.Name == "metrics" && strconv.Itoa(p.ContainerPort) != port {
			t.Errorf("port metrics is %d; --http-addr listens on %s", p.ContainerPort, port)
		}
	}
	probes := map[string]*probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe}
	for _, kind := range []string{"livenessProbe", "readinessProbe"} {
		if probes[kind] == nil {
			t.Errorf("no %s", kind)
		}
	}
	for kind, p := range probes {
		if p == nil {
			continue
		}
		if p.HTTPGet == nil {
			t.Errorf("%s is no httpGet probe", kind)
			continue
		}
		pp := p.HTTPGet.Port.Value
		if named, ok := portNames[pp]; ok {
			pp = named
		}
		if pp != port {
			t.Errorf("%s probes port %q; --http-addr listens on %s", kind, p.HTTPGet.Port.Value, port)
		}
		if !paths[p.HTTPGet.Path] {
			t.Errorf("%s probes %s, which the health server does not answer with 200", kind, p.HTTPGet.Path)
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probes %s; want /healthz (/readyz fails while Akamai refuses the credentials, which a restart does not cure)", c.LivenessProbe.HTTPGet.Path)
	}
	ann := m.Spec.Template.Metadata.Annotations
	if ann["prometheus.io/scrape"] == "true" {
		if ann["prometheus.io/port"] != port {
			t.Errorf("prometheus.io/port %q; --http-addr listens on %s", ann["prometheus.io/port"], port)
		}
		if !paths[ann["prometheus.io/path"]] {
			t.Errorf("prometheus.io/path %q is not served", ann["prometheus.io/path"])
		}
	}

	// Draining: SIGTERM waits --shutdown-timeout for events in flight.
	pod := m.Spec.Template.Spec
	shutdown, err := time.ParseDuration(cfg.ShutdownTimeout)
	if err != nil {
		t.Fatalf("shutdown_timeout %q: %v", cfg.ShutdownTimeout, err)
	}
	grace := 30 * time.Second // Kubernetes's default
	if g := pod.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if grace <= shutdown {
		t.Errorf("terminationGracePeriodSeconds is %v, not above --shutdown-timeout %v", grace, shutdown)
	}

	// Unprivileged.
	if sc := pod.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("the pod's securityContext does not require a non-root user")
	}
	sc := c.SecurityContext
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("securityContext.allowPrivilegeEscalation is not false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("securityContext.readOnlyRootFilesystem is not true")
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("securityContext.capabilities does not drop ALL")
	}
	if c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Error("no memory request or limit")
	}

	if cfg.NATSURL == "" {
		// The sidecar: the embedded server's store is on a volume claim,
		// and the CMS beside it publishes to the embedded server.
		mounted := false
		for _, vm := range c.VolumeMounts {
			if vm.MountPath != cfg.DataDir {
				continue
			}
			for _, v := range pod.Volumes {
				if v.Name == vm.Name && v.PersistentVolumeClaim != nil {
					mounted = true
				}
			}
		}
		if !mounted {
			t.Errorf("--data-dir %s is not a mounted PersistentVolumeClaim", cfg.DataDir)
		}
		_, listenPort, err := net.SplitHostPort(cfg.NATSListen)
		if err != nil {
			t.Fatalf("nats_listen %q: %v", cfg.NATSListen, err)
		}
		publishers := 0
		for _, o := range pod.Containers {
			for _, e := range o.Env {
				if e.Name != "NATS_URL" || o.Name == c.Name {
					continue
				}
				publishers++
				if want := "nats://127.0.0.1:" + listenPort; e.Value != want {
					t.Errorf("container %s publishes to NATS_URL=%s; the embedded server listens on %s (%s)", o.Name, e.Value, cfg.NATSListen, want)
				}
			}
		}
		if publishers == 0 {
			t.Error("the sidecar example has no container beside purgebus that publishes to it (NATS_URL)")
		}
		return
	}
	// The fleet: several replicas share the budget, and a disruption
	// budget keeps some of them running.
	if r := m.Spec.Replicas; r == nil || *r < 2 {
		t.Errorf("a fleet on --nats-url with %v replicas", r)
	}
	if !cfg.SharedBudget {
		t.Error("a fleet without --shared-budget: the replicas would each spend the account's whole budget")
	}
	covered := false
	for _, o := range all {
		if o.Kind == "PodDisruptionBudget" && len(o.Spec.Selector.MatchLabels) > 0 &&
			labelsMatch(o.Spec.Selector.MatchLabels, m.Spec.Template.Metadata.Labels) &&
			(o.Spec.MaxUnavailable != nil || o.Spec.MinAvailable != nil) {
			covered = true
		}
	}
	if !covered {
		t.Error("no PodDisruptionBudget selects the fleet's pods")
	}
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// servedPaths returns the paths among the candidates that the real health
// handler, as the consumer starts it (metrics and no failing check),
// answers with 200.
func servedPaths(t *testing.T) map[string]bool {
	t.Helper()
	srv, err := health.Start(context.Background(), health.Config{Addr: "127.0.0.1:0", Gatherer: metrics.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	served := map[string]bool{}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/livez", "/health", "/ready", "/"} {
		resp, err := http.Get("http://" + srv.Addr() + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		served[p] = resp.StatusCode == http.StatusOK
	}
	return served
}
