package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// ValidateOptions configures `kubectl cx validate`.
type ValidateOptions struct {
	// Paths are files or directories (walked recursively for .yaml and .yml files);
	// "-" reads standard input.
	Paths []string
	// Namespace is used for objects that have none (the -n flag, else "default").
	Namespace string
	// AllowMissingRefs reports references to objects that are not in the given
	// files as warnings instead of errors.
	AllowMissingRefs bool
}

// Severity of a finding. Errors make the exit status 1; warnings are counted;
// notes (that the CEL rules were not checked because of another error) are
// neither: they explain, they are not a problem of their own.
const (
	levelError   = "error"
	levelWarning = "warning"
	levelNote    = "note"
)

// Finding is one problem found by the validator.
type Finding struct {
	File    string
	Line    int
	Kind    string
	Name    string
	Field   string
	Message string
	Level   string
	order   int
	fileIdx int
	// objLine and last order findings: by object, then by line, notes last.
	objLine int
	last    bool
}

func (f Finding) String() string {
	msg := f.Message
	if f.Level == levelWarning || f.Level == levelNote {
		msg = f.Level + ": " + msg
	}
	fld := f.Field
	if fld == "" || fld == "<nil>" {
		fld = "<root>"
	}
	who := f.Kind + "/" + f.Name
	if f.Kind == "" {
		who = "<document>"
	}
	return fmt.Sprintf("%s:%d: %s: %s: %s", f.File, f.Line, who, fld, msg)
}

// ValidateResult is the outcome of a validation run.
type ValidateResult struct {
	Findings []Finding
	Objects  int // cxops objects checked
	Skipped  int // documents that are not cxops objects
	Errors   int
	Warnings int
}

// vobject is one cxops object found in the files.
type vobject struct {
	file      string
	fileIdx   int
	doc       *parsedDoc
	node      *yamlv3.Node // the object's node (the document, or a List item)
	base      string       // field path prefix of the object in its document ("items[2]" in a List)
	kind      string
	name      string
	namespace string
	typed     runtime.Object // decoded into the API type when the schema allowed it
}

func (o *vobject) line(path string) int {
	return o.doc.lineOf(o.node, path)
}

type validator struct {
	opts     ValidateOptions
	schemas  *schemaSet
	result   ValidateResult
	objects  []*vobject
	stdin    io.Reader
	fileIdx  map[string]int
	sequence int
}

// Validate checks the manifests in opts.Paths offline.
func Validate(ctx context.Context, opts ValidateOptions, stdin io.Reader) (*ValidateResult, error) {
	if len(opts.Paths) == 0 {
		return nil, errors.New("no files given: use -f FILE, -f DIRECTORY or -f -")
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	schemas, err := loadEmbeddedSchemas()
	if err != nil {
		return nil, fmt.Errorf("loading the embedded CRDs: %w", err)
	}
	v := &validator{opts: opts, schemas: schemas, stdin: stdin, fileIdx: map[string]int{}}
	files, err := v.expand(opts.Paths)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := v.validateFile(ctx, f); err != nil {
			return nil, err
		}
	}
	v.checkReferences()
	sort.SliceStable(v.result.Findings, func(i, j int) bool {
		a, b := v.result.Findings[i], v.result.Findings[j]
		if a.fileIdx != b.fileIdx {
			return a.fileIdx < b.fileIdx
		}
		if a.objLine != b.objLine {
			return a.objLine < b.objLine
		}
		if a.last != b.last {
			return b.last
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.order < b.order
	})
	for _, f := range v.result.Findings {
		switch f.Level {
		case levelWarning:
			v.result.Warnings++
		case levelError:
			v.result.Errors++
		}
	}
	return &v.result, nil
}

// expand turns the arguments into a list of files: directories are walked
// recursively for .yaml and .yml files (skipping hidden directories).
func (v *validator) expand(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		if p == "-" {
			files = append(files, "-")
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("the path %q does not exist", p)
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml":
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("no .yaml or .yml files in %s", p)
		}
		files = append(files, found...)
	}
	return files, nil
}

func (v *validator) add(f Finding) {
	v.sequence++
	f.order = v.sequence
	if f.Level == "" {
		f.Level = levelError
	}
	f.fileIdx = v.fileIdx[f.File]
	if f.objLine == 0 {
		f.objLine = f.Line
	}
	v.result.Findings = append(v.result.Findings, f)
}

func (v *validator) validateFile(ctx context.Context, path string) error {
	name := path
	var data []byte
	var err error
	if path == "-" {
		name = "<stdin>"
		if v.stdin == nil {
			return errors.New("no standard input")
		}
		data, err = io.ReadAll(v.stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	if _, ok := v.fileIdx[name]; !ok {
		v.fileIdx[name] = len(v.fileIdx)
	}
	for _, c := range splitYAMLDocuments(data) {
		doc, line, err := parseChunk(c)
		if err != nil {
			v.add(Finding{File: name, Line: line, Message: err.Error()})
			continue
		}
		if doc.value == nil {
			continue // empty document
		}
		v.validateDocument(ctx, name, doc)
	}
	return nil
}

func (v *validator) validateDocument(ctx context.Context, file string, doc *parsedDoc) {
	m, ok := doc.value.(map[string]interface{})
	if !ok {
		v.add(Finding{File: file, Line: doc.line, Message: "a manifest must be a mapping with apiVersion and kind"})
		return
	}
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	gv, _ := schema.ParseGroupVersion(apiVersion)
	if gv.Group == "" && gv.Version == "v1" && (kind == "List" || strings.HasSuffix(kind, "List")) {
		items, _ := m["items"].([]interface{})
		itemsNode, _ := step(resolveAlias(doc.root), pathToken{name: "items"})
		for i, it := range items {
			item, ok := it.(map[string]interface{})
			base := fmt.Sprintf("items[%d]", i)
			node, _ := step(resolveAlias(itemsNode), pathToken{name: fmt.Sprint(i), index: true})
			if node == nil {
				node = doc.root
			}
			if !ok {
				v.add(Finding{File: file, Line: doc.abs(node.Line), Field: base, Message: "a list item must be a mapping with apiVersion and kind"})
				continue
			}
			v.validateObject(ctx, file, doc, node, base, item)
		}
		return
	}
	v.validateObject(ctx, file, doc, doc.root, "", m)
}

func (v *validator) validateObject(ctx context.Context, file string, doc *parsedDoc, node *yamlv3.Node, base string, m map[string]interface{}) {
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || gv.Group != v.schemas.group {
		v.result.Skipped++ // not a cxops object (or not a Kubernetes object at all)
		return
	}
	name, namespace := objectName(m)
	o := &vobject{file: file, fileIdx: v.fileIdx[file], doc: doc, node: node, base: base, kind: kind, name: name, namespace: namespace}
	if o.namespace == "" {
		o.namespace = v.opts.Namespace
	}
	v.result.Objects++
	report := func(fld, msg string) {
		v.add(Finding{File: file, Line: o.line(fld), Kind: kindOrUnknown(kind), Name: name, Field: joinPath(base, fld), Message: msg, objLine: o.line("")})
	}
	if kind == "" {
		report("kind", "kind is required")
		return
	}
	ks := v.schemas.byGVK[gv.WithKind(kind)]
	if ks == nil {
		if versions, known := v.schemas.served[kind]; known {
			report("apiVersion", fmt.Sprintf("version %q of %s is not served; use %s/%s", gv.Version, kind, gv.Group, strings.Join(versions, ", ")))
		} else {
			report("kind", fmt.Sprintf("no kind %q in %s (known kinds: %s)", kind, apiVersion, strings.Join(v.knownKinds(), ", ")))
		}
		return
	}
	unknown, errs, note := ks.validateObject(ctx, m, v.opts.Namespace)
	for _, p := range unknown {
		report(p, "unknown field: it is not in the schema (the API server would drop it; strict validation rejects it)")
	}
	for _, e := range errs {
		report(fieldOf(e), e.ErrorBody())
	}
	if note != "" {
		// After the object's errors; not counted.
		v.add(Finding{File: file, Line: o.line(""), Kind: kindOrUnknown(kind), Name: name, Field: base,
			Message: note, Level: levelNote, objLine: o.line(""), last: true})
	}
	v.objects = append(v.objects, o)
	// References are checked whenever the object decodes into its type, even with
	// schema errors elsewhere in it.
	o.typed = decodeTyped(kind, m)
}

func (v *validator) knownKinds() []string {
	var kinds []string
	for k := range v.schemas.served {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

func objectName(m map[string]interface{}) (name, namespace string) {
	meta, _ := m["metadata"].(map[string]interface{})
	name, _ = meta["name"].(string)
	namespace, _ = meta["namespace"].(string)
	if name == "" {
		if g, _ := meta["generateName"].(string); g != "" {
			name = g + "*"
		}
	}
	if name == "" {
		name = "<unnamed>"
	}
	return name, namespace
}

func kindOrUnknown(kind string) string {
	if kind == "" {
		return "<unknown kind>"
	}
	return kind
}

func fieldOf(e *field.Error) string {
	if e.Field == "<nil>" {
		return ""
	}
	return e.Field
}

func joinPath(base, fld string) string {
	switch {
	case base == "":
		return fld
	case fld == "":
		return base
	case strings.HasPrefix(fld, "["):
		return base + fld
	default:
		return base + "." + fld
	}
}

// decodeTyped converts a valid object into its API type, for reference checks.
func decodeTyped(kind string, m map[string]interface{}) runtime.Object {
	var obj runtime.Object
	switch kind {
	case "Journey":
		obj = &cxv1.Journey{}
	case "Moment":
		obj = &cxv1.Moment{}
	case "SignalSource":
		obj = &cxv1.SignalSource{}
	case "RoadmapStream":
		obj = &cxv1.RoadmapStream{}
	case "RemediationTask":
		obj = &cxv1.RemediationTask{}
	default:
		return nil
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, obj); err != nil {
		return nil
	}
	return obj
}

// PrintValidateResult writes the findings and the summary; it returns the exit
// code: 1 when there are errors.
func PrintValidateResult(w io.Writer, r *ValidateResult) int {
	for _, f := range r.Findings {
		_, _ = fmt.Fprintln(w, f.String())
	}
	var extra []string
	if r.Warnings > 0 {
		extra = append(extra, plural(r.Warnings, "warning", "warnings"))
	}
	skipped := ""
	if r.Skipped > 0 {
		skipped = fmt.Sprintf(" (%s skipped)", plural(r.Skipped, "non-cxops document", "non-cxops documents"))
	}
	if r.Errors > 0 {
		summary := plural(r.Errors, "error", "errors")
		for _, e := range extra {
			summary += ", " + e
		}
		_, _ = fmt.Fprintf(w, "%s in %s%s\n", summary, plural(r.Objects, "object", "objects"), skipped)
		return 1
	}
	summary := plural(r.Objects, "object", "objects") + " valid"
	for _, e := range extra {
		summary += ", " + e
	}
	_, _ = fmt.Fprintln(w, summary+skipped)
	return 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func newValidateCommand(o *Options) *cobra.Command {
	vo := ValidateOptions{}
	cmd := &cobra.Command{
		Use:   "validate -f PATH...",
		Short: "Validate cxops manifests offline, as the API server would",
		Long: `Validate cxops manifests offline, without a cluster.

Every cxops object (apiVersion cx.cxops.io/v1alpha1) is checked against the OpenAPI
schema and the CEL rules of the CRDs built into this plugin, exactly as the API
server does on create, with strict field validation (unknown fields are errors).
Then references between the objects in the given files are checked: a Moment's
journey, stage, signal sources and roadmap stream, and the moments and objectives
a RoadmapStream's initiatives address. Objects without a namespace are in the
namespace given with -n, or "default".

Documents that are not cxops objects are skipped. Every problem is printed as
FILE:LINE: Kind/name: field: message. The exit status is 1 when there are errors.`,
		Example: `  kubectl cx validate -f config/samples
  kubectl cx validate -f journey.yaml -f moments/
  kustomize build overlays/prod | kubectl cx validate -f -
  kubectl cx validate -f moments/ --allow-missing-refs`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			vo.Paths = append(vo.Paths, args...)
			if o.ConfigFlags.Namespace != nil {
				vo.Namespace = *o.ConfigFlags.Namespace
			}
			res, err := Validate(cmd.Context(), vo, o.IOStreams.In)
			if err != nil {
				return err
			}
			if code := PrintValidateResult(o.IOStreams.Out, res); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&vo.Paths, "filename", "f", nil, "files or directories to validate (recursively .yaml and .yml); - for standard input")
	cmd.Flags().BoolVar(&vo.AllowMissingRefs, "allow-missing-refs", false, "report references to objects that are not in the given files as warnings, not errors (for partial repositories)")
	return cmd
}
