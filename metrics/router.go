package metrics

import (
	"context"
	"errors"
	"fmt"

	wmetrics "github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
)

// RouterSubsystem is the subsystem of the watermill router's metrics:
// purgebus_router_handler_execution_time_seconds,
// purgebus_router_subscriber_messages_received_total and
// purgebus_router_publish_time_seconds.
const RouterSubsystem = "router"

// InstrumentRouter adds watermill's Prometheus metrics to r: its
// handlers' execution time (buckets from 10 ms to 60 s, since a handler
// waits for Akamai), the messages its subscribers received, acked or
// nacked, and its publishes. Call it before r runs, and before adding
// other middleware, so the execution time covers them and an error they
// make of a panic counts as success="false". Several routers may share a
// registry.
func (m *Metrics) InstrumentRouter(r *message.Router) (err error) {
	if m == nil || m.reg == nil {
		return nil
	}
	if r == nil {
		return errors.New("metrics: instrument router: nil router")
	}
	b := wmetrics.NewPrometheusMetricsBuilder(m.reg, Namespace, RouterSubsystem)
	b.HandlerBuckets = eventBuckets
	// watermill registers the handler metric when the middleware is made,
	// and panics if that fails; the others when the router runs, failing
	// Run. Registering all of them here reports a conflict now instead;
	// AddPrometheusRouterMetrics then reuses what is registered.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("metrics: instrument router: %v", p)
		}
	}()
	if _, err := b.DecoratePublisher(nopPubSub{}); err != nil {
		return fmt.Errorf("metrics: instrument router: %w", err)
	}
	if _, err := b.DecorateSubscriber(nopPubSub{}); err != nil {
		return fmt.Errorf("metrics: instrument router: %w", err)
	}
	b.NewRouterMiddleware()
	b.AddPrometheusRouterMetrics(r)
	return nil
}

// nopPubSub stands in for the router's publishers and subscribers while
// InstrumentRouter registers their metrics.
type nopPubSub struct{}

func (nopPubSub) Publish(string, ...*message.Message) error { return nil }
func (nopPubSub) Subscribe(context.Context, string) (<-chan *message.Message, error) {
	ch := make(chan *message.Message)
	close(ch)
	return ch, nil
}
func (nopPubSub) Close() error { return nil }

// errPanicked stands for the error of a handler that panicked through
// Middleware.
var errPanicked = errors.New("handler panicked")

// Middleware is a watermill middleware counting events received, in
// flight and retried (EventReceived and EventHandled around the handler;
// do not call those too). Add it before the handler's PoisonMiddleware,
// so it sees what the router sees: a panic that PoisonMiddleware turns
// into a dead letter is then no retry. A panic that reaches Middleware
// counts as a retry, and goes on.
func (m *Metrics) Middleware(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		m.EventReceived()
		handled := false
		defer func() {
			if !handled {
				m.EventHandled(errPanicked)
			}
		}()
		out, err := next(msg)
		handled = true
		m.EventHandled(err)
		return out, err
	}
}
