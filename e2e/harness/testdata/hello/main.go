// Command hello is a tiny service image for the harness's own tests: it proves that
// go_service_image builds an image the engine loads and runs as the hindsight user.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Printf("hello uid=%d home=%s args=%s\n", os.Getuid(), os.Getenv("HOME"), strings.Join(os.Args[1:], " "))
}
