package dashboard

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/cxops/cxops/internal/plugin"
)

// `kubectl cx dashboard --port 0` prints its URL, serves the pages with the
// kubeconfig's user, and stops when its context ends (Ctrl-C in kubectl-cx's
// main), exiting 0.
func TestCommandServesAndStopsOnCancel(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "command")
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	g.Expect(env.WriteKubeconfig(kubeconfig)).To(Succeed())

	outR, outW := io.Pipe()
	o := plugin.NewOptions(genericiooptions.IOStreams{In: strings.NewReader(""), Out: outW, ErrOut: io.Discard})
	o.Commands = append(o.Commands, NewCommand)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan int, 1)
	go func() {
		exited <- plugin.Run(ctx, o, []string{"--kubeconfig", kubeconfig, "dashboard", "-n", ns, "--port", "0"})
		_ = outW.Close()
	}()

	line, err := bufio.NewReader(outR).ReadString('\n')
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(line).To(HavePrefix("cxops dashboard for namespace " + ns + " at http://127.0.0.1:"))
	url := strings.Fields(strings.TrimSpace(line[strings.Index(line, " at ")+4:]))[0]
	go func() { _, _ = io.Copy(io.Discard, outR) }()

	resp, err := http.Get(url)
	g.Expect(err).NotTo(HaveOccurred())
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	g.Expect(string(body)).To(ContainSubstring("No journeys found in namespace " + ns))

	// An open event stream does not hold the shutdown up.
	events, err := http.Get(url + "events")
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = events.Body.Close() }()
	g.Expect(events.StatusCode).To(Equal(http.StatusOK))

	cancel()
	g.Eventually(exited, 10*time.Second).Should(Receive(Equal(0)))
}
