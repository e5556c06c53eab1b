// Command kubectl-cx is the kubectl plugin of cxops: `kubectl cx map|status|tasks|ack|validate|dashboard|version`.
// Install it on the PATH with `go install ./cmd/kubectl-cx`.
package main

import (
	"context"
	"os"
	"os/signal"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/cxops/cxops/internal/dashboard"
	"github.com/cxops/cxops/internal/plugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	o := plugin.NewOptions(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	o.Commands = append(o.Commands, dashboard.NewCommand)
	code := plugin.Run(ctx, o, os.Args[1:])
	stop()
	os.Exit(code)
}
