package controllers

import (
	"context"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

func tasksOf(g Gomega, ns, moment string) []cxv1.RemediationTask {
	var list cxv1.RemediationTaskList
	g.Expect(k8sClient.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{LabelMoment: moment})).To(Succeed())
	return list.Items
}
