package consumer

import (
	"context"
	"errors"
	"fmt"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/handler"
	"github.com/purgebus/purgebus/health"
	"github.com/purgebus/purgebus/metrics"
)

// watch feeds the metrics that are read at scrape time: the budgets'
// buckets and the durable consumer's lag.
func (c *Consumer) watch(ctx context.Context) error {
	m := c.cfg.Metrics
	err := m.WatchBuckets(func() []metrics.BucketLevel {
		var out []metrics.BucketLevel
		for _, a := range c.accounts {
			for _, l := range a.levels() {
				out = append(out, metrics.BucketLevel{Account: a.name, Bucket: l.Bucket, Remaining: l.Tokens, Capacity: float64(l.Capacity)})
			}
		}
		return out
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	err = m.WatchEscalations(func() []metrics.EscalationLevel {
		var out []metrics.EscalationLevel
		for _, a := range c.accounts {
			for _, b := range a.coalescer.EscalationBudgets() {
				out = append(out, metrics.EscalationLevel{Account: a.name, Route: b.Route, Remaining: b.Remaining})
			}
		}
		return out
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	sc := c.cfg.Streams
	cons, err := c.js.Consumer(ctx, sc.ContentStream, sc.Durable)
	if err != nil {
		return fmt.Errorf("consumer: durable %s on %s: %w", sc.Durable, sc.ContentStream, err)
	}
	err = m.WatchConsumerLag(func(ctx context.Context) (uint64, uint64, error) {
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, 0, err
		}
		return info.NumPending, uint64(info.NumAckPending), nil
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	return nil
}

// Checks returns the readiness checks of the consumer, for /readyz: NATS
// connected, the streams and the durable present and fit, no request
// refused by the NATS server for lack of permission, every account's
// credentials accepted by Akamai, and so every circuit closed. Their
// errors name no secret.
func (c *Consumer) Checks() []health.Check {
	return []health.Check{
		{Name: "nats", Func: func(context.Context) error {
			for _, nc := range c.conns {
				if !nc.IsConnected() {
					return fmt.Errorf("connection %s is %s", nc.Opts.Name, nc.Status())
				}
			}
			return nil
		}},
		{Name: "streams", Func: func(ctx context.Context) error {
			return c.perms.Guarded(ctx, func(ctx context.Context) error { return bus.Verify(ctx, c.js, c.cfg.Streams) })
		}},
		{Name: "permissions", Func: func(context.Context) error {
			// Sticky: a refused permission is not granted by waiting.
			return c.perms.Err()
		}},
		{Name: "akamai", Func: func(context.Context) error {
			var errs []error
			for _, a := range c.accounts {
				if err := a.credentialsOK(); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		}},
		{Name: "circuit", Func: func(context.Context) error {
			var errs []error
			for _, a := range c.accounts {
				if s, _ := a.circuit.State(); s != handler.CircuitClosed {
					errs = append(errs, fmt.Errorf("account %s: circuit %s", a.name, s))
				}
			}
			return errors.Join(errs...)
		}},
	}
}
