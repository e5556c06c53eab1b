package providers

import (
	"fmt"
	"strings"
	"sync"
	"text/template/parse"

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

// Limits of a query template. MaxQueryTemplateBytes is the schema's MaxLength of
// Signal.Query, enforced again here because RenderQuery must not trust its caller.
const (
	// MaxQueryTemplateBytes is the longest query (template) RenderQuery accepts.
	MaxQueryTemplateBytes = 4096
	// MaxQueryBytes is the longest rendered query.
	MaxQueryBytes = 8 << 10
)

// allowedTemplateSyntax ends every refusal: what a template may use instead.
const allowedTemplateSyntax = `a query template may use only {{ .Name }}, {{ .Namespace }}, {{ .Objective }}, ` +
	`{{ .Labels.key }}, {{ index .Labels "key" }} and quoted text such as {{ "{{" }}`

// maxCachedTemplates bounds the compiled-template cache.
const maxCachedTemplates = 4096

var templateCache = struct {
	sync.RWMutex
	m map[string]compiledQuery
}{m: map[string]compiledQuery{}}

// RenderQuery renders a query template with data. The template language is a
// small subset of Go's text/template: text, the fields of QueryData, a label by
// {{ .Labels.key }} or {{ index .Labels "key" }}, quoted strings and comments.
// Everything else (range, if, with, define, block, template, variables, pipelines
// and every other function, printf included) is refused before anything is
// rendered, so a render costs time and memory in proportion to the template,
// which is at most MaxQueryTemplateBytes long; the output is at most
// MaxQueryBytes. A query without "{{" is returned unchanged without being parsed.
// Referring to a label the object does not have is an error. Errors are *Error
// with reason InvalidSpec. Compiled templates are cached, and RenderQuery is safe
// for concurrent use.
func RenderQuery(tmpl string, data QueryData) (string, error) {
	if len(tmpl) > MaxQueryTemplateBytes {
		return "", Errorf(v1alpha1.ReasonInvalidSpec, "query template is %d bytes, longer than the limit of %d", len(tmpl), MaxQueryTemplateBytes)
	}
	if !strings.Contains(tmpl, "{{") {
		return tmpl, nil
	}
	q, err := compileCached(tmpl)
	if err != nil {
		return "", err
	}
	return q.render(data)
}

// partKind says what one piece of a compiled template writes.
type partKind uint8

const (
	partText partKind = iota
	partName
	partNamespace
	partObjective
	partLabel
)

// queryPart is one piece of a compiled template: text, a field or a label.
type queryPart struct {
	kind partKind
	// text is the text of a partText, or the label key of a partLabel.
	text string
	// at is where the part is in the template ("1:12"), for messages.
	at string
}

// compiledQuery is a template checked against the allowed syntax.
type compiledQuery []queryPart

func (q compiledQuery) render(data QueryData) (string, error) {
	var b strings.Builder
	for _, p := range q {
		var s string
		switch p.kind {
		case partText:
			s = p.text
		case partName:
			s = data.Name
		case partNamespace:
			s = data.Namespace
		case partObjective:
			s = data.Objective
		case partLabel:
			v, ok := data.Labels[p.text]
			if !ok {
				return "", Errorf(v1alpha1.ReasonInvalidSpec, "query template cannot be rendered: there is no label %q (at %s)", textutil.Truncate(p.text, 253), p.at)
			}
			s = v
		}
		if b.Len()+len(s) > MaxQueryBytes {
			return "", Errorf(v1alpha1.ReasonInvalidSpec, "query template renders to a query longer than the limit of %d bytes", MaxQueryBytes)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func compileCached(tmpl string) (compiledQuery, error) {
	templateCache.RLock()
	q, ok := templateCache.m[tmpl]
	templateCache.RUnlock()
	if ok {
		return q, nil
	}
	q, err := compileQuery(tmpl)
	if err != nil {
		return nil, err
	}
	templateCache.Lock()
	if len(templateCache.m) >= maxCachedTemplates {
		for k := range templateCache.m { // forget an arbitrary entry
			delete(templateCache.m, k)
			break
		}
	}
	templateCache.m[tmpl] = q
	templateCache.Unlock()
	return q, nil
}

// compileQuery parses tmpl with text/template's parser and checks every node
// against the allowed syntax. Nothing is executed.
func compileQuery(tmpl string) (compiledQuery, error) {
	tree := parse.New("query")
	// Functions are checked below, by name, with a better message than the parser's.
	tree.Mode = parse.SkipFuncCheck
	trees := map[string]*parse.Tree{}
	if _, err := tree.Parse(tmpl, "", "", trees); err != nil {
		return nil, &Error{
			Reason:  v1alpha1.ReasonInvalidSpec,
			Message: "query template does not parse: " + templateMessage(err),
			Err:     err,
		}
	}
	c := &templateChecker{tree: tree}
	for name := range trees {
		if name != tree.Name {
			return nil, c.refuse(nil, "define, block and template are")
		}
	}
	if tree.Root == nil {
		return nil, nil
	}
	var q compiledQuery
	for _, n := range tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			q = append(q, queryPart{kind: partText, text: string(n.Text)})
		case *parse.CommentNode:
		case *parse.ActionNode:
			p, err := c.action(n)
			if err != nil {
				return nil, err
			}
			q = append(q, p)
		case *parse.IfNode:
			return nil, c.refuse(n, "if is")
		case *parse.RangeNode:
			return nil, c.refuse(n, "range is")
		case *parse.WithNode:
			return nil, c.refuse(n, "with is")
		case *parse.TemplateNode:
			return nil, c.refuse(n, "define, block and template are")
		case *parse.BreakNode, *parse.ContinueNode:
			return nil, c.refuse(n, "break and continue are")
		default:
			return nil, c.refuse(n, fmt.Sprintf("%q is", textutil.Truncate(n.String(), 40)))
		}
	}
	return q, nil
}

// templateChecker refuses what the template language does not allow, saying where.
type templateChecker struct {
	tree *parse.Tree
}

// refuse says that what (a construct, followed by "is" or "are") is not allowed at
// node n (nil for the whole template).
func (c *templateChecker) refuse(n parse.Node, what string) error {
	at := ""
	if n != nil {
		at = " (at " + c.position(n) + ")"
	}
	return Errorf(v1alpha1.ReasonInvalidSpec, "query template: %s not allowed%s; %s", what, at, allowedTemplateSyntax)
}

// position is "line:column" of n in the template.
func (c *templateChecker) position(n parse.Node) string {
	loc, _ := c.tree.ErrorContext(n)
	return strings.TrimPrefix(loc, c.tree.Name+":")
}

// action compiles {{ ... }}: one command without variables or pipes, naming a
// field, a label or a string.
func (c *templateChecker) action(a *parse.ActionNode) (queryPart, error) {
	pipe := a.Pipe
	switch {
	case len(pipe.Decl) > 0:
		return queryPart{}, c.refuse(a, "a variable is")
	case len(pipe.Cmds) != 1:
		return queryPart{}, c.refuse(a, "a pipeline (|) is")
	}
	args := pipe.Cmds[0].Args
	at := c.position(a)
	if id, ok := args[0].(*parse.IdentifierNode); ok {
		if id.Ident != "index" {
			return queryPart{}, c.refuse(a, fmt.Sprintf("function %q is", textutil.Truncate(id.Ident, 40)))
		}
		if len(args) == 3 && isLabels(args[1]) {
			if key, ok := args[2].(*parse.StringNode); ok {
				return queryPart{kind: partLabel, text: key.Text, at: at}, nil
			}
		}
		return queryPart{}, c.refuse(a, "index other than index .Labels \"key\" is")
	}
	if len(args) != 1 {
		return queryPart{}, c.refuse(a, "an action with arguments is")
	}
	switch n := args[0].(type) {
	case *parse.FieldNode:
		switch {
		case len(n.Ident) == 1 && n.Ident[0] == "Name":
			return queryPart{kind: partName, at: at}, nil
		case len(n.Ident) == 1 && n.Ident[0] == "Namespace":
			return queryPart{kind: partNamespace, at: at}, nil
		case len(n.Ident) == 1 && n.Ident[0] == "Objective":
			return queryPart{kind: partObjective, at: at}, nil
		case len(n.Ident) == 2 && n.Ident[0] == "Labels":
			return queryPart{kind: partLabel, text: n.Ident[1], at: at}, nil
		}
		return queryPart{}, c.refuse(a, fmt.Sprintf("field %s is", textutil.Truncate(n.String(), 80)))
	case *parse.StringNode:
		return queryPart{kind: partText, text: n.Text, at: at}, nil
	case *parse.DotNode:
		return queryPart{}, c.refuse(a, `"." alone is`)
	case *parse.VariableNode:
		return queryPart{}, c.refuse(a, "a variable is")
	case *parse.PipeNode:
		return queryPart{}, c.refuse(a, "a parenthesized pipeline is")
	case *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
		return queryPart{}, c.refuse(a, fmt.Sprintf("the constant %s is", textutil.Truncate(n.String(), 40)))
	default:
		return queryPart{}, c.refuse(a, fmt.Sprintf("%q is", textutil.Truncate(n.String(), 40)))
	}
}

// isLabels says whether n is the field .Labels.
func isLabels(n parse.Node) bool {
	f, ok := n.(*parse.FieldNode)
	return ok && len(f.Ident) == 1 && f.Ident[0] == "Labels"
}

// templateMessage shortens text/template's error text ("template: query:1:2:
// ...") to its useful part, bounded.
func templateMessage(err error) string {
	s := strings.TrimPrefix(err.Error(), "template: ")
	return textutil.Truncate(s, 512)
}
