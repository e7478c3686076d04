//go:build deploy

package deploy_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPromtoolCheckMetrics runs promtool check metrics, Prometheus's lint
// of naming and help conventions, on /metrics of a consumer that purged
// one event.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed (deploy/scripts/test.sh installs Debian's prometheus package)")
	}
	exposition := scrapeAfterOneEvent(t)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	if !strings.Contains(exposition, "purgebus_events_finished_total{outcome=\"succeeded\"} 1") {
		t.Errorf("the scrape does not count the event:\n%s", exposition)
	}
}
