package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/intern"
	"github.com/cxops/cxops/internal/providers"
)

// The manager needs to read opted-in Secrets (through its cache) and the metadata
// of one referenced Secret to tell "missing" from "not opted in". RBAC cannot
// narrow get/list/watch to a label; the cache and the reader below do.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// secretReader is the one way the controllers read a Secret's data: signal
// sources (credentials, CA, headers) and webhook sinks (headers) both go through
// it. Only Secrets labelled cx.cxops.io/usable-by=cxops are read, from the
// manager's cache, which holds nothing else (see SecretCache).
//
// Errors: providers.ErrSecretNotFound for a missing Secret; providers.ErrSecretNotUsable
// (with a message naming the label to add) for a Secret that exists without the label.
type secretReader struct {
	// cached reads Secrets from the manager's cache (label-selected).
	cached client.Reader
	// api reads one Secret's metadata, uncached, when it is not in the cache.
	api client.Reader
}

// get returns the data of the Secret name in namespace.
func (s secretReader) get(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	sec := &corev1.Secret{}
	err := s.cached.Get(ctx, ctrlKey(namespace, name), sec)
	switch {
	case err == nil:
		// The cache holds only labelled Secrets; this check keeps the rule when a
		// cache is configured otherwise (tests, another manager).
		if !SecretUsable(sec) {
			return nil, notUsable(name)
		}
		return sec.Data, nil
	case !apierrors.IsNotFound(err):
		return nil, err
	}
	// Not in the cache: missing, or not opted in. One uncached GET of the metadata
	// tells which; it is neither cached nor logged (its annotations may hold
	// kubectl's last-applied-configuration, with the data).
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := s.api.Get(ctx, ctrlKey(namespace, name), meta); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, providers.ErrSecretNotFound
		}
		return nil, err
	}
	if usableLabels(meta.GetLabels()) {
		// Labelled a moment ago: the cache has not seen it yet; the watch will
		// bring it and enqueue the users of the Secret.
		return nil, fmt.Errorf("secret %q is labelled for cxops but not in the manager's cache yet; retrying", name)
	}
	return nil, notUsable(name)
}

// notUsableError matches providers.ErrSecretNotUsable; its message says which
// label to add.
type notUsableError struct{ name string }

func (e notUsableError) Error() string   { return providers.SecretNotUsableMessage(e.name, "") }
func (notUsableError) Is(err error) bool { return err == providers.ErrSecretNotUsable }

func notUsable(name string) error { return notUsableError{name} }

// SecretUsable reports whether a Secret is opted in to cxops: it carries the label
// cx.cxops.io/usable-by=cxops (v1alpha1.SecretUsableByLabel/SecretUsableByValue).
func SecretUsable(obj metav1.Object) bool {
	return usableLabels(obj.GetLabels())
}

func usableLabels(l map[string]string) bool {
	return l[cxv1.SecretUsableByLabel] == cxv1.SecretUsableByValue
}

// SecretCache is the cache setting of Secrets every cxops manager must use: only
// Secrets labelled cx.cxops.io/usable-by=cxops are listed, watched and cached, and
// managed fields and kubectl's last-applied-configuration annotation (which
// repeats the data of an applied Secret) are dropped before an object enters the
// cache.
func SecretCache() cache.ByObject {
	return cache.ByObject{
		Label:     labels.SelectorFromSet(labels.Set{cxv1.SecretUsableByLabel: cxv1.SecretUsableByValue}),
		Transform: stripSecretMetadata,
	}
}

// CacheByObject returns the per-kind cache settings of a cxops manager, for
// cache.Options.ByObject.
func CacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{&corev1.Secret{}: SecretCache()}
}

var _ toolscache.TransformFunc = stripSecretMetadata

// CacheTransform is the transform of every cached object (the manager's
// cache.Options.DefaultTransform): it drops managed fields and kubectl's
// last-applied-configuration annotation, which no controller reads and which
// are most of an object's size (the annotation repeats the whole spec). Objects
// are only ever patched, never updated from a cached copy, so nothing dropped
// here is lost on the server. The strings of the cxops kinds that objects share
// (namespaces, references, condition reasons and messages, targets, labels) are
// interned in one bounded table: a fifth less memory per cached Moment.
func CacheTransform() toolscache.TransformFunc {
	return func(in any) (any, error) {
		out, err := stripSecretMetadata(in)
		if err != nil {
			return out, err
		}
		switch o := out.(type) {
		case *cxv1.Moment, *cxv1.Journey, *cxv1.SignalSource, *cxv1.RemediationTask, *cxv1.RoadmapStream:
			cacheStrings.Object(o)
		}
		return out, nil
	}
}

// cacheStrings is the string table of the cached cxops objects.
var cacheStrings intern.Table

// stripSecretMetadata drops what the controllers never read from a cached Secret:
// managed fields and the last-applied-configuration annotation.
func stripSecretMetadata(in any) (any, error) {
	obj, ok := in.(metav1.Object)
	if !ok {
		// Tombstones (cache.DeletedFinalStateUnknown) pass unchanged.
		return in, nil
	}
	obj.SetManagedFields(nil)
	if a := obj.GetAnnotations(); a != nil {
		if _, has := a[corev1.LastAppliedConfigAnnotation]; has {
			b := make(map[string]string, len(a)-1)
			for k, v := range a {
				if k != corev1.LastAppliedConfigAnnotation {
					b[k] = v
				}
			}
			obj.SetAnnotations(b)
		}
	}
	return in, nil
}
