// Package plugin implements `kubectl cx`, the kubectl plugin of cxops: the journey
// map and status in the terminal, remediation tasks, and an offline validator for
// manifests. cmd/kubectl-cx only calls Run.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/version"
)

// Label on RemediationTasks naming their Moment (set by the controller).
const labelMoment = "cx.cxops.io/moment"

// defaultWidth is the width used for the map when stdout is not a terminal.
const defaultWidth = 120

// Options are shared by the commands.
type Options struct {
	IOStreams   genericiooptions.IOStreams
	ConfigFlags *genericclioptions.ConfigFlags

	// Now returns the current time, for AGE columns. Defaults to time.Now.
	Now func() time.Time
	// Terminal reports whether w is a terminal and its width (0 when unknown).
	// Defaults to checking *os.File descriptors with golang.org/x/term.
	Terminal func(w io.Writer) (isTerminal bool, width int)

	// Commands are more subcommands from packages that build on this one and so
	// cannot be imported here (internal/dashboard: `kubectl cx dashboard`);
	// cmd/kubectl-cx sets them.
	Commands []func(*Options) *cobra.Command

	newClient func() (client.Client, error)
}

// NewOptions returns the options of a real invocation.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		IOStreams:   streams,
		ConfigFlags: genericclioptions.NewConfigFlags(true),
		Now:         time.Now,
		Terminal:    fileTerminal,
	}
}

func fileTerminal(w io.Writer) (bool, int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return true, 0
	}
	return true, width
}

// Scheme returns the scheme of the plugin's client: the built-in kinds and cxops.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := cxv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Client returns a controller-runtime client for the cluster the kubeconfig flags
// select.
func (o *Options) Client() (client.Client, error) {
	if o.newClient != nil {
		return o.newClient()
	}
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: Scheme()})
}

// Namespace returns the namespace of the -n flag or of the kubeconfig context.
func (o *Options) Namespace() (string, error) {
	ns, _, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", err
	}
	return ns, nil
}

// NewRootCommand returns `kubectl cx` and its subcommands.
func NewRootCommand(o *Options) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl cx",
		Short: "Customer-experience operations with cxops",
		Long: `kubectl cx shows customer journeys, the moments that matter in them and their
remediation tasks from a cluster running cxops, and validates cxops manifests offline.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl cx",
		},
	}
	o.ConfigFlags.AddFlags(root.PersistentFlags())
	root.AddCommand(
		newMapCommand(o),
		newStatusCommand(o),
		newTasksCommand(o),
		newAckCommand(o),
		newValidateCommand(o),
		newVersionCommand(o),
	)
	for _, newCommand := range o.Commands {
		root.AddCommand(newCommand(o))
	}
	return root
}

// newVersionCommand is `kubectl cx version`: the plugin's version and commit.
func newVersionCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl cx",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(o.IOStreams.Out, version.String())
			return err
		},
	}
}

// exitError ends the command with an exit code, its message already printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Run runs `kubectl cx` with args and returns the exit code.
func Run(ctx context.Context, o *Options, args []string) int {
	ctrllog.SetLogger(logr.Discard())
	root := NewRootCommand(o)
	root.SetArgs(args)
	root.SetIn(o.IOStreams.In)
	root.SetOut(o.IOStreams.Out)
	root.SetErr(o.IOStreams.ErrOut)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		_, _ = fmt.Fprintln(o.IOStreams.ErrOut, "error:", err)
		return 1
	}
	return 0
}
