package plugin

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// chunk is one YAML document of a stream, as kubectl splits streams: on lines
// starting with "---" followed by nothing but blanks or a comment.
type chunk struct {
	line int // 1-based line of the chunk's first line in the file
	data []byte
}

func splitYAMLDocuments(data []byte) []chunk {
	var chunks []chunk
	var cur bytes.Buffer
	start, lineNo := 1, 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if isDocumentSeparator(line) {
			chunks = append(chunks, chunk{line: start, data: append([]byte(nil), cur.Bytes()...)})
			cur.Reset()
			start = lineNo + 1
			continue
		}
		cur.Write(line)
		cur.WriteByte('\n')
	}
	chunks = append(chunks, chunk{line: start, data: append([]byte(nil), cur.Bytes()...)})
	return chunks
}

func isDocumentSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	rest := strings.TrimSpace(string(line[3:]))
	return rest == "" || strings.HasPrefix(rest, "#")
}

// parsedDoc is one YAML document: its value as kubectl would send it (through
// sigs.k8s.io/yaml, as JSON) and its node tree (go.yaml.in/yaml/v3) for positions.
type parsedDoc struct {
	line  int // 1-based line of the document's first content line
	base  int // line offset of the chunk: absolute line = base + node.Line - 1
	root  *yamlv3.Node
	value interface{} // nil for an empty document
}

var yamlErrLine = regexp.MustCompile(`line (\d+)`)

// parseChunk parses one document. An error carries the absolute line when the
// parser reported one.
func parseChunk(c chunk) (*parsedDoc, int, error) {
	doc := &parsedDoc{line: c.line, base: c.line}
	var n yamlv3.Node
	if err := yamlv3.Unmarshal(c.data, &n); err != nil {
		return nil, errLine(c.line, err), cleanYAMLError(err)
	}
	if n.Kind == 0 || len(n.Content) == 0 {
		return doc, 0, nil // empty (only comments or blanks)
	}
	doc.root = n.Content[0]
	doc.line = doc.abs(doc.root.Line)
	if doc.root.Kind == yamlv3.ScalarNode && doc.root.Tag == "!!null" {
		doc.root = nil
		return doc, 0, nil
	}
	if dup := findDuplicateKey(doc.root); dup != nil {
		return nil, doc.abs(dup.Line), fmt.Errorf("duplicate field %q", dup.Value)
	}
	js, err := yaml.YAMLToJSON(c.data)
	if err != nil {
		return nil, errLine(c.line, err), cleanYAMLError(err)
	}
	var v interface{}
	if err := utiljson.Unmarshal(js, &v); err != nil {
		return nil, doc.line, err
	}
	doc.value = v
	return doc, 0, nil
}

func (d *parsedDoc) abs(line int) int {
	if line <= 0 {
		return d.line
	}
	return d.base + line - 1
}

func errLine(base int, err error) int {
	if m := yamlErrLine.FindStringSubmatch(err.Error()); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil && n > 0 {
			return base + n - 1
		}
	}
	return base
}

func cleanYAMLError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = yamlErrLine.ReplaceAllString(msg, "")
	msg = strings.TrimLeft(msg, " :")
	return fmt.Errorf("invalid YAML: %s", msg)
}

// findDuplicateKey returns the second occurrence of a repeated mapping key, which
// strict decoding (kubectl --validate=strict) rejects.
func findDuplicateKey(n *yamlv3.Node) *yamlv3.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yamlv3.MappingNode {
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yamlv3.ScalarNode && k.Value != "<<" {
				if seen[k.Value] {
					return k
				}
				seen[k.Value] = true
			}
		}
	}
	for _, c := range n.Content {
		if d := findDuplicateKey(c); d != nil {
			return d
		}
	}
	return nil
}

// lineOf returns the line of the deepest node found along a field path such as
// "spec.objectives[0].target.value" or "spec.static.values[nps]", starting at
// node: the line of the key for a field, of the item for a list element.
func (d *parsedDoc) lineOf(node *yamlv3.Node, path string) int {
	if node == nil {
		return d.line
	}
	line := node.Line
	cur := node
	for _, tok := range splitFieldPath(path) {
		cur = resolveAlias(cur)
		if cur == nil {
			break
		}
		next, at := step(cur, tok)
		if next == nil {
			break
		}
		cur, line = next, at
	}
	return d.abs(line)
}

// step descends one path token from n, returning the child and the line to report.
func step(n *yamlv3.Node, tok pathToken) (*yamlv3.Node, int) {
	switch n.Kind {
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == tok.name {
				return n.Content[i+1], n.Content[i].Line
			}
		}
	case yamlv3.SequenceNode:
		if !tok.index {
			return nil, 0
		}
		i, err := strconv.Atoi(tok.name)
		if err != nil || i < 0 || i >= len(n.Content) {
			return nil, 0
		}
		return n.Content[i], n.Content[i].Line
	}
	return nil, 0
}

func resolveAlias(n *yamlv3.Node) *yamlv3.Node {
	for n != nil && n.Kind == yamlv3.AliasNode {
		n = n.Alias
	}
	return n
}

type pathToken struct {
	name  string
	index bool // written as [name]: a list index or a map key
}

// splitFieldPath splits a field.Path string: names separated by dots, subscripts
// in brackets.
func splitFieldPath(p string) []pathToken {
	var toks []pathToken
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, pathToken{name: cur.String()})
			cur.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '.':
			flush()
		case '[':
			flush()
			j := strings.IndexByte(p[i:], ']')
			if j < 0 {
				cur.WriteString(p[i:])
				i = len(p)
				continue
			}
			toks = append(toks, pathToken{name: p[i+1 : i+j], index: true})
			i += j
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return toks
}
