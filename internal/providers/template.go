package providers

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"text/template"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/textutil"
)

// QueryData is what a query template may use.
type QueryData struct {
	// Name of the Moment or Journey the objective belongs to.
	Name string
	// Namespace of the Moment or Journey.
	Namespace string
	// Labels of the Moment or Journey.
	Labels map[string]string
	// Objective is the objective's name.
	Objective string
}

// maxCachedTemplates bounds the parsed-template cache.
const maxCachedTemplates = 4096

var templateCache = struct {
	sync.RWMutex
	m map[string]*template.Template
}{m: map[string]*template.Template{}}

// templateFuncs overrides the builtin index so that a missing label is an error,
// like a missing field with missingkey=error, instead of an empty string that would
// silently change what a query selects.
var templateFuncs = template.FuncMap{"index": strictIndex}

// RenderQuery renders a query template (a Go text/template) with data. A template
// without "{{" is returned unchanged without being parsed. Referring to a label the
// object does not have is an error, with .Labels.key and index .Labels "key"
// alike. Errors are *Error with reason InvalidSpec. Parsed templates are cached, and
// RenderQuery is safe for concurrent use.
func RenderQuery(tmpl string, data QueryData) (string, error) {
	if !strings.Contains(tmpl, "{{") {
		return tmpl, nil
	}
	t, err := parseTemplate(tmpl)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", &Error{
			Reason:  v1alpha1.ReasonInvalidSpec,
			Message: "query template cannot be rendered: " + templateMessage(err),
			Err:     err,
		}
	}
	return b.String(), nil
}

func parseTemplate(tmpl string) (*template.Template, error) {
	templateCache.RLock()
	t, ok := templateCache.m[tmpl]
	templateCache.RUnlock()
	if ok {
		return t, nil
	}
	t, err := template.New("query").Option("missingkey=error").Funcs(templateFuncs).Parse(tmpl)
	if err != nil {
		return nil, &Error{
			Reason:  v1alpha1.ReasonInvalidSpec,
			Message: "query template does not parse: " + templateMessage(err),
			Err:     err,
		}
	}
	templateCache.Lock()
	if len(templateCache.m) >= maxCachedTemplates {
		for k := range templateCache.m { // forget an arbitrary entry
			delete(templateCache.m, k)
			break
		}
	}
	templateCache.m[tmpl] = t
	templateCache.Unlock()
	return t, nil
}

// templateMessage shortens text/template's error text ("template: query:1:2:
// executing \"query\" at <...>: ...") to its useful part, bounded.
func templateMessage(err error) string {
	s := strings.TrimPrefix(err.Error(), "template: ")
	s = strings.Replace(s, `executing "query" at `, "at ", 1)
	return textutil.Truncate(s, 512)
}

// strictIndex is text/template's index, except that a missing map key is an error.
func strictIndex(item reflect.Value, indexes ...reflect.Value) (reflect.Value, error) {
	item = indirectValue(item)
	if !item.IsValid() {
		return reflect.Value{}, fmt.Errorf("index of untyped nil")
	}
	for _, index := range indexes {
		index = indirectValue(index)
		switch item.Kind() {
		case reflect.Map:
			if !index.IsValid() || !index.Type().AssignableTo(item.Type().Key()) {
				return reflect.Value{}, fmt.Errorf("cannot index %s with %v", item.Type(), index)
			}
			v := item.MapIndex(index)
			if !v.IsValid() {
				return reflect.Value{}, fmt.Errorf("map has no entry for key %q", fmt.Sprint(index.Interface()))
			}
			item = v
		case reflect.Slice, reflect.Array, reflect.String:
			var i int
			switch index.Kind() {
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				i = int(index.Int())
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
				i = int(index.Uint())
			default:
				return reflect.Value{}, fmt.Errorf("cannot index %s with %v", item.Type(), index)
			}
			if i < 0 || i >= item.Len() {
				return reflect.Value{}, fmt.Errorf("index out of range: %d", i)
			}
			item = item.Index(i)
		default:
			return reflect.Value{}, fmt.Errorf("cannot index %s", item.Type())
		}
		item = indirectValue(item)
	}
	return item, nil
}

// indirectValue unwraps interfaces and pointers.
func indirectValue(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}
