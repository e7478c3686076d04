// Package deploy holds purgebus's deployment files, not code: the
// container image's build script (image.sh; the Dockerfile is at the
// module's root), Kubernetes manifests (kubernetes/), Prometheus alerting
// rules and their unit tests (prometheus/), a Grafana dashboard
// (grafana/) and the script that checks them all (scripts/test.sh).
//
// Its tests keep those files true to the consumer: every flag, variable,
// port and probe path of the manifests exists in the consumer, every
// metric that a rule or the dashboard reads is exported by a running
// consumer, and (with the build tag deploy, which scripts/test.sh sets)
// the image builds and runs. docs/operating.md describes them.
package deploy
