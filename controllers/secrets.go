package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cxops/cxops/internal/providers"
)

// secretReader is the one way the controllers read a Secret's data: signal
// sources (credentials, CA, headers) and webhook sinks (headers) both go through
// it. A missing Secret is providers.ErrSecretNotFound.
type secretReader struct {
	reader client.Reader
}

// get returns the data of the Secret name in namespace.
func (s secretReader) get(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	sec := &corev1.Secret{}
	if err := s.reader.Get(ctx, ctrlKey(namespace, name), sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, providers.ErrSecretNotFound
		}
		return nil, err
	}
	return sec.Data, nil
}
