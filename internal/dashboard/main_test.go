package dashboard

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/plugin"
	"github.com/cxops/cxops/internal/testenv"
)

var (
	env *testenv.Env
	// admin may do anything; viewer may read the cxops kinds and nothing else
	// (bound per namespace by allowViewer).
	admin, viewer client.WithWatch
)

// viewerName is the restricted user of the tests.
const viewerName = "dashboard-viewer"

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if admin, err = client.NewWithWatch(env.Config, client.Options{Scheme: plugin.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	u, err := env.AddUser(envtest.User{Name: viewerName}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if viewer, err = client.NewWithWatch(u.Config(), client.Options{Scheme: plugin.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// newNamespace creates a namespace for one test, where the viewer may read
// (get, list, watch) the cxops kinds but not patch them.
func newNamespace(t *testing.T, name string) string {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	g.Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	g.Expect(admin.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "cx-view"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{cxv1.GroupVersion.Group}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}}}})).To(Succeed())
	g.Expect(admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "cx-view"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "cx-view"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: viewerName}}})).To(Succeed())
	return name
}

// newServer is a dashboard of namespace ns as c.
func newServer(t *testing.T, c client.WithWatch, ns string) *Server {
	t.Helper()
	s, err := New(Options{Client: c, Namespace: ns, Log: logr.Discard(), MaxClients: 2})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// create creates obj, then writes its status with setStatus when not nil.
func create(t *testing.T, obj client.Object, setStatus func()) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	g.Expect(admin.Create(ctx, obj)).To(Succeed())
	if setStatus != nil {
		setStatus()
		g.Expect(admin.Status().Update(ctx, obj)).To(Succeed())
	}
}

func journey(ns, name string) *cxv1.Journey {
	return &cxv1.Journey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1.JourneySpec{Persona: cxv1.Persona{Name: "Technician"},
			Stages: []cxv1.Stage{{Name: "order", DisplayName: "Order", Phase: cxv1.PhasePurchase}}}}
}

func moment(ns, name, journey, stage string) *cxv1.Moment {
	return &cxv1.Moment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1.MomentSpec{JourneyRef: cxv1.LocalObjectReference{Name: journey}, Stage: stage, Polarity: cxv1.PolarityPain, Owner: "logistics",
			Objectives: []cxv1.Objective{{
				Name:   "stock-accuracy",
				KPI:    cxv1.KPI{Type: cxv1.KPIStockAccuracy, Unit: "%", Direction: cxv1.HigherIsBetter},
				Signal: cxv1.Signal{SourceRef: cxv1.LocalObjectReference{Name: "figures"}, Query: "stock-accuracy"},
				Target: cxv1.Target{Operator: cxv1.OpGreaterOrEqual, Value: ptr.To("99.5"), Warning: ptr.To("99.7")},
			}}}}
}

func task(ns, name, momentName string) *cxv1.RemediationTask {
	return &cxv1.RemediationTask{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1.RemediationTaskSpec{MomentRef: cxv1.LocalObjectReference{Name: momentName}, Objective: "stock-accuracy",
			Team: "logistics", Severity: cxv1.SeverityHigh, BreachingSince: new(metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))),
			Summary: "stock accuracy 98.1 below 99.5"}}
}

// openTask creates a task with phase Open.
func openTask(t *testing.T, ns, name, momentName string) *cxv1.RemediationTask {
	t.Helper()
	tk := task(ns, name, momentName)
	create(t, tk, func() { tk.Status = cxv1.RemediationTaskStatus{Phase: cxv1.TaskOpen, Severity: cxv1.SeverityHigh} })
	return tk
}
