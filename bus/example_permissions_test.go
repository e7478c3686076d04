package bus_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
)

// A publisher whose user may publish to content.changed.blog only learns
// at once, and by name, that content.changed.shop is refused, instead of
// waiting for an acknowledgement that never comes.
func ExamplePermissions_Guarded() {
	perms := &bus.Permissions{}
	nc, err := bus.ConnectConfig{
		URL:         "nats://nats.example.com:4222",
		CredsFile:   "blog.creds",
		InboxPrefix: "_INBOX_blog", // the user may subscribe to its own replies only
		Permissions: perms,
	}.Connect()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = perms.Guarded(ctx, func(ctx context.Context) error {
		_, err := js.Publish(ctx, "content.changed.shop", []byte(`{"urls":["https://shop.example.com/a"]}`))
		return err
	})
	var refused *bus.PermissionError
	if errors.As(err, &refused) {
		fmt.Println("refused:", refused.Op, refused.Subject)
	}
}
