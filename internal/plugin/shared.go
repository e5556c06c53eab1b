package plugin

import (
	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// The rules the terminal output follows, for the other views of the same data
// (internal/dashboard), so that they say the same thing: one rule per question.

// JourneyHealth is a journey's health as cxops shows it to people: Unknown, never
// Healthy, when the journey has no health yet, its Healthy condition is Unknown
// or its coverage is below its minimum.
func JourneyHealth(j *cxv1.Journey) string { return journeyHealth(j) }

// HealthOrUnknown is h, or Unknown when h is empty.
func HealthOrUnknown(h cxv1.HealthState) string { return healthOrUnknown(h) }

// TaskOpen reports whether a task is open (not Resolved).
func TaskOpen(t *cxv1.RemediationTask) bool { return taskOpen(t) }

// SortTasks orders tasks by namespace, then open before acknowledged before
// resolved, most severe first, oldest first, then by name.
func SortTasks(tasks []cxv1.RemediationTask) { sortTasks(tasks) }

// NewTaskView is a task as the plugin shows it (phase Open when unset, the
// current severity, the moment from the spec or the label).
func NewTaskView(t *cxv1.RemediationTask) TaskView { return taskView(t) }
