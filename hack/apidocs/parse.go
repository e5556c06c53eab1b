package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// apiPackage is what the generator knows about the API package.
type apiPackage struct {
	// types by name.
	types map[string]*typeInfo
	// consts by the name of their type ("" for untyped), in source order.
	consts map[string][]constInfo
	// constGroups are the documented const blocks of untyped constants, in source
	// order (the condition types and reasons).
	constGroups []constGroup
	// markers of the package doc comments (such as groupName=cx.cxops.io).
	markers []string
}

// typeInfo is one type declaration.
type typeInfo struct {
	name    string
	doc     []string // paragraphs, markers removed
	markers []string // marker lines without the leading "+"
	expr    ast.Expr // the type expression (struct, ident, ...)
}

// constInfo is one constant.
type constInfo struct {
	name  string
	value string
	doc   []string
}

// constGroup is one const block.
type constGroup struct {
	doc    []string
	consts []constInfo
}

// parsePackage parses the non-test, non-generated Go files of dir.
func parsePackage(dir string) (*apiPackage, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") || strings.HasPrefix(n, "zz_generated") {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("no Go files in %s", dir)
	}
	pkg := &apiPackage{types: map[string]*typeInfo{}, consts: map[string][]constInfo{}}
	fset := token.NewFileSet()
	for _, n := range names {
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		_, pm := splitComment(f.Doc)
		pkg.markers = append(pkg.markers, pm...)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			switch gd.Tok {
			case token.TYPE:
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					cg := ts.Doc
					if cg == nil && len(gd.Specs) == 1 {
						cg = gd.Doc
					}
					doc, markers := splitComment(cg)
					pkg.types[ts.Name.Name] = &typeInfo{name: ts.Name.Name, doc: doc, markers: markers, expr: ts.Type}
				}
			case token.CONST:
				group := constGroup{}
				group.doc, _ = splitComment(gd.Doc)
				var lastType string
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					typ := lastType
					if vs.Type != nil {
						if id, ok := vs.Type.(*ast.Ident); ok {
							typ = id.Name
						}
					} else if len(vs.Values) > 0 {
						typ = ""
					}
					lastType = typ
					doc, _ := splitComment(vs.Doc)
					for i, name := range vs.Names {
						if i >= len(vs.Values) {
							continue
						}
						lit, ok := vs.Values[i].(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							continue
						}
						v, err := strconv.Unquote(lit.Value)
						if err != nil {
							return nil, err
						}
						c := constInfo{name: name.Name, value: v, doc: doc}
						pkg.consts[typ] = append(pkg.consts[typ], c)
						if typ == "" {
							group.consts = append(group.consts, c)
						}
					}
				}
				if len(group.consts) > 0 {
					pkg.constGroups = append(pkg.constGroups, group)
				}
			}
		}
	}
	return pkg, nil
}

// splitComment separates a doc comment into description paragraphs and marker lines
// (those starting with "+", returned without it).
func splitComment(cg *ast.CommentGroup) (paragraphs, markers []string) {
	if cg == nil {
		return nil, nil
	}
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			paragraphs = append(paragraphs, strings.Join(cur, " "))
			cur = nil
		}
	}
	for _, c := range cg.List {
		text := c.Text
		if !strings.HasPrefix(text, "//") {
			continue // block comments are not used in the API
		}
		line := strings.TrimSpace(strings.TrimPrefix(text, "//"))
		switch {
		case strings.HasPrefix(line, "+"):
			markers = append(markers, strings.TrimPrefix(line, "+"))
		case line == "":
			flush()
		default:
			cur = append(cur, line)
		}
	}
	flush()
	return paragraphs, markers
}

// markerValue returns the value of the first marker "name=value", and whether there
// is one. A marker without "=" (such as "required") has the value "".
func markerValue(markers []string, name string) (string, bool) {
	for _, m := range markers {
		if m == name {
			return "", true
		}
		if v, ok := strings.CutPrefix(m, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// markerArgs parses the arguments of a marker such as
// `rule="...",message="..."` or `name="X",type=string,JSONPath=`.a“: keys and
// values separated by commas, values bare, double-quoted (Go escapes) or
// back-quoted. A marker whose arguments follow its name after a colon
// (kubebuilder:resource:shortName=x,categories=y) passes the part after it.
func markerArgs(s string) (map[string]string, error) {
	out := map[string]string{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, fmt.Errorf("marker arguments %q: missing '='", s)
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if s != "" && (s[0] == '"' || s[0] == '`') {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("marker argument %s: %w", key, err)
			}
			val, err = strconv.Unquote(q)
			if err != nil {
				return nil, fmt.Errorf("marker argument %s: %w", key, err)
			}
			s = s[len(q):]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val = s[:end]
			s = s[end:]
		}
		out[key] = val
		s = strings.TrimPrefix(s, ",")
	}
	return out, nil
}

// enumValues splits an Enum marker value such as `">=";">";InRange` into values.
func enumValues(s string) ([]string, error) {
	var out []string
	for s != "" {
		var v string
		if s[0] == '"' || s[0] == '`' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("enum %q: %w", s, err)
			}
			v, _ = strconv.Unquote(q)
			s = s[len(q):]
		} else {
			end := strings.IndexByte(s, ';')
			if end < 0 {
				end = len(s)
			}
			v = s[:end]
			s = s[end:]
		}
		out = append(out, v)
		if s != "" && s[0] != ';' {
			return nil, fmt.Errorf("enum: unexpected %q", s)
		}
		s = strings.TrimPrefix(s, ";")
	}
	return out, nil
}

// jsonName returns the JSON name of a field and whether it is inlined or omitted.
func jsonName(f *ast.Field) (name string, inline, omitempty, skip bool) {
	if f.Tag != nil {
		tag, _ := strconv.Unquote(f.Tag.Value)
		if j, ok := lookupTag(tag, "json"); ok {
			parts := strings.Split(j, ",")
			if parts[0] == "-" && len(parts) == 1 {
				return "", false, false, true
			}
			name = parts[0]
			for _, p := range parts[1:] {
				switch p {
				case "inline":
					inline = true
				case "omitempty", "omitzero":
					omitempty = true
				}
			}
		}
	}
	if name == "" && !inline && len(f.Names) > 0 {
		name = f.Names[0].Name
	}
	return name, inline, omitempty, false
}

func lookupTag(tag, key string) (string, bool) {
	for tag != "" {
		tag = strings.TrimLeft(tag, " ")
		colon := strings.Index(tag, ":")
		if colon <= 0 || colon+1 >= len(tag) || tag[colon+1] != '"' {
			return "", false
		}
		name := tag[:colon]
		rest := tag[colon+1:]
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return "", false
		}
		if name == key {
			v, _ := strconv.Unquote(q)
			return v, true
		}
		tag = rest[len(q):]
	}
	return "", false
}
