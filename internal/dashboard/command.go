package dashboard

import (
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strconv"

	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cxops/cxops/internal/plugin"
)

// NewCommand returns `kubectl cx dashboard`; cmd/kubectl-cx adds it to the
// plugin's commands (plugin.Options.Commands).
func NewCommand(o *plugin.Options) *cobra.Command {
	var address string
	var port int
	var all, open bool
	var maxClients int
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve a live web dashboard of journeys, the journey map, tasks and the roadmap on localhost",
		Long: `Serve a web dashboard on localhost with your kubeconfig: the journeys with their
score, coverage and health; each journey's map with its service blueprint; the
remediation tasks, with an Acknowledge button when you may patch them; and the
roadmap streams. Pages update within seconds of a change, without reloading.

Everything is read and written as you: the cluster's RBAC applies, and nothing is
installed in the cluster. The server listens on 127.0.0.1 unless --address says
otherwise, and stops on Ctrl-C.`,
		Example: `  kubectl cx dashboard -n shop
  kubectl cx dashboard -A --open
  kubectl cx dashboard --port 3200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ns := ""
			if !all {
				var err error
				if ns, err = o.Namespace(); err != nil {
					return err
				}
			}
			cfg, err := o.ConfigFlags.ToRESTConfig()
			if err != nil {
				return err
			}
			c, err := client.NewWithWatch(cfg, client.Options{Scheme: plugin.Scheme()})
			if err != nil {
				return err
			}
			errOut := o.IOStreams.ErrOut
			log := funcr.New(func(prefix, args string) {
				if prefix != "" {
					_, _ = fmt.Fprintln(errOut, prefix+":", args)
				} else {
					_, _ = fmt.Fprintln(errOut, args)
				}
			}, funcr.Options{})
			opts := Options{Client: c, Namespace: ns, Log: log.WithName("dashboard"), MaxClients: maxClients}
			ip := net.ParseIP(address)
			if address != "localhost" && (ip == nil || !ip.IsLoopback()) {
				opts.Hosts = []string{address}
				_, _ = fmt.Fprintf(errOut, "warning: --address %s is not a loopback address: whoever can reach it sees what your kubeconfig can read\n", address)
			}
			s, err := New(opts)
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(port)))
			if err != nil {
				return err
			}
			url := "http://" + l.Addr().String() + "/"
			scope := "namespace " + ns
			if all {
				scope = "all namespaces"
			}
			_, _ = fmt.Fprintf(o.IOStreams.Out, "cxops dashboard for %s at %s (Ctrl-C to stop)\n", scope, url)
			if open {
				if err := openBrowser(url); err != nil {
					_, _ = fmt.Fprintf(errOut, "could not open a browser (%v); open %s\n", err, url)
				}
			}
			return s.Run(cmd.Context(), l)
		},
	}
	cmd.Flags().StringVar(&address, "address", DefaultAddress, "address to listen on; keep a loopback address unless you mean others to see the dashboard with your credentials")
	cmd.Flags().IntVar(&port, "port", DefaultPort, "port to listen on (0 picks a free one)")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "show every namespace (the default is -n or the kubeconfig context's namespace)")
	cmd.Flags().BoolVar(&open, "open", false, "open the dashboard in the default browser")
	cmd.Flags().IntVar(&maxClients, "max-clients", DefaultMaxClients, "most pages that may follow live updates at a time")
	return cmd
}

// openBrowser opens url with the desktop's opener.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
