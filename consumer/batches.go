package consumer

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// startBatches returns a BatchPublisher for the results, falling back on
// pub, when the server and the result stream allow fast batches, and nil
// (results go one by one through pub) when they do not or the consumer
// cannot tell. It logs which.
func startBatches(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, pub *bus.Publisher, stream string, window int, log *slog.Logger) (*bus.BatchPublisher, error) {
	ok, err := bus.BatchPublishAllowed(ctx, js, stream)
	if err != nil {
		log.Warn("results published one by one: cannot tell whether the result stream allows batch publishing", "stream", stream, "err", err)
		return nil, nil
	}
	if !ok {
		// Provision allows batches on servers that can (nats-server
		// 2.14 and later); an older server, or a stream provisioned
		// elsewhere without them, does not.
		log.Info("results published one by one: the result stream does not allow batch publishing (it needs nats-server 2.14+ and allow_batched, which --provision sets)", "stream", stream)
		return nil, nil
	}
	bp, err := bus.NewBatchPublisher(nc, pub, bus.BatchConfig{Prefix: events.SubjectResults + ".", MaxBatch: window})
	if err != nil {
		return nil, err
	}
	log.Info("results published in fast batches", "stream", stream)
	return bp, nil
}
