package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// BenchmarkSubscriberAck measures the subscriber's throughput when every
// message is acked as soon as it is handed over, with fire-and-forget
// acks and with acks confirmed by the server (DoubleAck), over loopback
// TCP and over an in-process connection. b.N messages are stored first;
// the clock runs until the work queue is empty, that is until JetStream
// processed every ack.
//
// Confirmed acks over an in-process connection sometimes stall the pull
// consumer for 30 s (two missed heartbeats) with nats.go v1.55.0: the
// server holds no pull request while the client waits for one. That is
// why ConfirmAcks is off by default; run with -benchtime 30000x -count 6
// to see it.
func BenchmarkSubscriberAck(b *testing.B) {
	for _, transport := range []string{"tcp", "inprocess"} {
		for _, confirm := range []bool{false, true} {
			name := transport + "/fire-and-forget"
			if confirm {
				name = transport + "/confirmed"
			}
			b.Run(name, func(b *testing.B) { benchAck(b, transport == "inprocess", confirm) })
		}
	}
}

func benchAck(b *testing.B, inProcess, confirm bool) {
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer emb.Shutdown()
	var opts []nats.Option
	if inProcess {
		opts = append(opts, nats.InProcessServer(emb.Server()))
	}
	connect := func() *nats.Conn {
		nc, err := emb.ClientConfig().Connect(opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		return nc
	}
	js := jetStream(b, connect())
	ctx := context.Background()
	if err := bus.Provision(ctx, js, bus.StreamsConfig{}); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 300)
	for i := range b.N {
		if _, err := js.PublishAsync("content.changed", payload); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	sub, err := bus.NewSubscriber(jetStream(b, connect()), bus.SubscriberConfig{
		Stream: events.DefaultContentStream, Durable: "purgebus", ConfirmAcks: confirm,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	stream, err := js.Stream(ctx, events.DefaultContentStream)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	out, err := sub.Subscribe(ctx, "x")
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		(<-out).Ack()
	}
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.State.Msgs == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
