// Command stamp prints version.String, for TestStamped.
package main

import (
	"fmt"

	"github.com/purgebus/purgebus/internal/version"
)

func main() { fmt.Print(version.String("prog")) }
