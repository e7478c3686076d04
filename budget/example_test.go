package budget_test

import (
	"fmt"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/budget"
)

// A lane asks for the tokens of its batch before sending it; while it
// waits, its batch keeps growing, and when the tokens are there it sends
// as much as they cover.
func ExampleLocal() {
	b, err := budget.NewLocal(budget.Config{Limits: budget.AkamaiLimits()})
	if err != nil {
		panic(err)
	}
	n, wait := b.Take(akamai.TypeURL, 700, 700)
	fmt.Println("first batch:", n, wait)

	// Akamai reports that another client spent most of the URL bucket.
	b.Observe(akamai.TypeURL, akamai.RateLimit{RemainingObjects: 100, Fields: akamai.FieldRemainingObjects})
	n, wait = b.Take(akamai.TypeURL, 700, 700)
	fmt.Println("second batch:", n, wait.Round(100*1e6))
	// Output:
	// first batch: 700 0s
	// second batch: 0 3s
}
