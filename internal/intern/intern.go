// Package intern deduplicates the strings of the objects the manager caches.
//
// 10,000 Moments decoded from the API server hold 10,000 copies of the same
// namespace, journey and source names, condition types, reasons and messages,
// targets and label keys. Table.Object replaces each such string with one shared
// copy, which takes about a fifth off a cached Moment (see BenchmarkObject).
//
// Label and annotation maps are shared whole: objects with the same labels (the
// Moments of one journey, one team) hold one map between them, since a small Go
// map costs more than its strings (about 330 bytes for one label).
//
// The table is bounded: strings longer than MaxLen are left alone, and when the
// table holds MaxEntries strings (or maps) it starts over, so that objects full
// of strings seen nowhere else (a tenant's long messages, names) cost a bounded
// amount and never stop the sharing for long.
//
// What the table returns is shared and must never be changed in place: cached
// objects are read-only (the cache hands out deep copies, or objects read only).
package intern

import (
	"reflect"
	"slices"
	"strconv"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// MaxLen is the longest string interned, in bytes.
	MaxLen = 256
	// MaxEntries is how many strings the table holds before it starts over.
	MaxEntries = 8192
	// MaxMapLen is the most entries a shared map has.
	MaxMapLen = 8
)

// Table is a bounded string table, safe for concurrent use. Its zero value is
// ready.
type Table struct {
	mu      sync.Mutex
	strings map[string]string
	// maps holds the shared maps by their canonical text (mapKey).
	maps map[string]map[string]string
}

// String returns the table's copy of s, adding s when it has none.
func (t *Table) String(s string) string {
	if s == "" || len(s) > MaxLen {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return keep(&t.strings, s, s)
}

// keep returns the value *m holds for k, or stores v for k and returns it,
// starting *m over when it holds MaxEntries. The caller holds the table's lock.
func keep[V any](m *map[string]V, k string, v V) V {
	if held, ok := (*m)[k]; ok {
		return held
	}
	if *m == nil || len(*m) >= MaxEntries {
		*m = make(map[string]V, 256)
	}
	(*m)[k] = v
	return v
}

// Len is the number of strings in the table.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.strings)
}

// Object interns, in place, the strings of obj, a pointer to a struct: every
// exported string field, in nested structs, pointers, slices and string maps.
// Of its ObjectMeta (the field of that type) only what objects share is
// interned: the namespace, label and annotation keys and values, finalizers and
// the owners' kinds; names, UIDs and resource versions are unique to an object
// and stay as they are. obj must not be shared yet (a newly decoded object in a
// cache transform).
func (t *Table) Object(obj any) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	t.value(v.Elem())
}

var objectMetaType = reflect.TypeFor[metav1.ObjectMeta]()

func (t *Table) value(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			if s := v.String(); s != "" && len(s) <= MaxLen {
				v.SetString(t.String(s))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			t.value(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == objectMetaType {
			if v.CanAddr() {
				t.meta(v.Addr().Interface().(*metav1.ObjectMeta))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				t.value(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // bytes, not text
		}
		for i := range v.Len() {
			t.value(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() || !v.CanSet() {
			return
		}
		if m, ok := v.Interface().(map[string]string); ok {
			v.Set(reflect.ValueOf(t.stringMap(m)))
		}
	}
}

func (t *Table) meta(m *metav1.ObjectMeta) {
	m.Namespace = t.String(m.Namespace)
	m.Labels = t.stringMap(m.Labels)
	m.Annotations = t.stringMap(m.Annotations)
	for i := range m.Finalizers {
		m.Finalizers[i] = t.String(m.Finalizers[i])
	}
	for i := range m.OwnerReferences {
		r := &m.OwnerReferences[i]
		r.APIVersion, r.Kind = t.String(r.APIVersion), t.String(r.Kind)
	}
}

// stringMap returns m with its keys and values interned: a new map, since the keys
// of a map cannot be replaced in place. A small map (at most MaxMapLen entries of
// MaxLen bytes in all) is shared: an equal map returned before is returned again.
func (t *Table) stringMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	key, ok := mapKey(m)
	if ok {
		t.mu.Lock()
		shared, found := t.maps[key]
		t.mu.Unlock()
		if found {
			return shared
		}
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[t.String(k)] = t.String(v)
	}
	if ok {
		t.mu.Lock()
		defer t.mu.Unlock()
		return keep(&t.maps, key, out)
	}
	return out
}

// MapLen is the number of shared maps in the table.
func (t *Table) MapLen() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.maps)
}

// mapKey is the canonical text of a small map: its keys in order, each followed
// by its value, every string preceded by its length (so that no two maps have the
// same text, whatever their strings hold). ok is false for a map too large to
// share.
func mapKey(m map[string]string) (key string, ok bool) {
	if len(m) == 0 || len(m) > MaxMapLen {
		return "", false
	}
	var buf [MaxMapLen]string
	keys := buf[:0]
	size := 0
	for k, v := range m {
		if size += len(k) + len(v); size > MaxLen {
			return "", false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, size+8*len(keys))
	for _, k := range keys {
		b = strconv.AppendInt(b, int64(len(k)), 10)
		b = append(b, ':')
		b = append(b, k...)
		b = strconv.AppendInt(b, int64(len(m[k])), 10)
		b = append(b, ':')
		b = append(b, m[k]...)
	}
	return string(b), true
}
