package managerapp

import (
	"net/http"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// newMapper is the manager's REST mapper: controller-runtime's dynamic mapper,
// with the mapping of each kind and version kept once found.
func newMapper(c *rest.Config, httpClient *http.Client) (meta.RESTMapper, error) {
	m, err := apiutil.NewDynamicRESTMapper(c, httpClient)
	if err != nil {
		return nil, err
	}
	return &memoMapper{RESTMapper: m}, nil
}

// memoMapper answers RESTMapping for one version from memory once the mapper it
// wraps has found it. The metadata client, which sends every status patch (its
// answer read as metadata only), asks for the mapping on each request, and the
// dynamic mapper builds its answer anew each time: 7 % of the manager's
// allocations while 10,000 Moments converged. A kind's resource and scope do not
// change while its definition exists (a CRD's names and scope are immutable), so
// a found mapping stays right; failures are not kept, and the next call asks
// again. A CRD deleted and installed again under other names needs a restart.
type memoMapper struct {
	meta.RESTMapper
	found sync.Map // schema.GroupVersionKind -> *meta.RESTMapping
}

func (m *memoMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	if len(versions) != 1 {
		return m.RESTMapper.RESTMapping(gk, versions...)
	}
	key := gk.WithVersion(versions[0])
	if v, ok := m.found.Load(key); ok {
		// A copy: the caller may change it.
		mapping := *v.(*meta.RESTMapping)
		return &mapping, nil
	}
	mapping, err := m.RESTMapper.RESTMapping(gk, versions...)
	if err != nil {
		return nil, err
	}
	kept := *mapping
	m.found.Store(key, &kept)
	return mapping, nil
}
