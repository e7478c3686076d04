package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgebus/purgebus/health"
	"github.com/purgebus/purgebus/metrics"
)

func ExampleStart() {
	reg := prometheus.NewRegistry()
	metrics.New(reg)
	srv, err := health.Start(context.Background(), health.Config{
		Addr:     "127.0.0.1:0", // --http-addr; health.DefaultAddr when empty
		Gatherer: reg,
		Checks: []health.Check{
			{Name: "nats", Func: func(context.Context) error { return nil }},
		},
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close(context.Background())

	resp, err := http.Get("http://" + srv.Addr() + "/healthz")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output:
	// 200 {"status":"ok"}
}

func ExampleCheck() {
	var connected atomic.Bool
	srv, err := health.Start(context.Background(), health.Config{
		Addr: "127.0.0.1:0",
		Checks: []health.Check{{
			Name: "nats",
			// The error's text is shown on /readyz: no secrets in it.
			Func: func(context.Context) error {
				if !connected.Load() {
					return errors.New("not connected")
				}
				return nil
			},
		}},
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close(context.Background())

	for range 2 {
		resp, err := http.Get("http://" + srv.Addr() + "/readyz")
		if err != nil {
			panic(err)
		}
		var body health.ReadyResponse
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, body.Status, body.Checks[0].Name, body.Checks[0].Status, body.Checks[0].Message)
		connected.Store(true)
	}
	// Output:
	// 503 unavailable nats error not connected
	// 200 ok nats ok
}
