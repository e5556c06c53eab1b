package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Output formats of the list commands besides cli-runtime's print flags.
const (
	outputWide          = "wide"
	outputName          = "name"
	outputCustomColumns = "custom-columns"
)

// listOutput is the -o flag of the list commands (status, tasks): the default
// table; "wide", the table with more columns; and cli-runtime's print flags
// (json, yaml, name, go-template, jsonpath and their -file forms), plus
// custom-columns=HEADER:JSONPATH,... . json, yaml, the templates and
// custom-columns address the command's list (what -o json shows); name prints
// the objects behind it (kind.group/name, as kubectl does).
type listOutput struct {
	flags *genericclioptions.PrintFlags
}

func addListOutput(cmd *cobra.Command) *listOutput {
	o := &listOutput{flags: genericclioptions.NewPrintFlags("")}
	o.flags.AddFlags(cmd)
	cmd.Flags().Lookup("output").Usage = fmt.Sprintf("Output format. One of: (%s). Default: a table.", strings.Join(o.allowed(), ", "))
	return o
}

func (o *listOutput) format() string { return *o.flags.OutputFormat }

func (o *listOutput) allowed() []string {
	formats := append(o.flags.AllowedFormats(), outputWide, outputCustomColumns)
	sort.Strings(formats)
	return formats
}

// table reports whether -o asks for a table, and whether the wide one.
func (o *listOutput) table() (table, wide bool) {
	template := o.flags.TemplatePrinterFlags.TemplateArgument
	switch o.format() {
	case "":
		return template == nil || *template == "", false
	case outputWide:
		return true, true
	}
	return false, false
}

// printer returns the printer of -o, or nil for the tables. Commands call it
// before they connect, so that a wrong -o fails at once.
func (o *listOutput) printer() (printers.ResourcePrinter, error) {
	if table, _ := o.table(); table {
		return nil, nil
	}
	if spec, ok := strings.CutPrefix(o.format(), outputCustomColumns+"="); ok {
		return newCustomColumnsPrinter(spec)
	}
	p, err := o.flags.ToPrinter()
	if genericclioptions.IsNoCompatiblePrinterError(err) {
		return nil, genericclioptions.NoCompatiblePrinterError{OutputFormat: o.flags.OutputFormat, AllowedFormats: o.allowed()}
	}
	return p, err
}

// print writes list with p, or, for -o name, the objects behind it.
func (o *listOutput) print(w io.Writer, p printers.ResourcePrinter, list runtime.Object, objects []client.Object) error {
	if o.format() != outputName {
		return p.PrintObj(list, w)
	}
	scheme := Scheme()
	for _, obj := range objects {
		gvk, err := apiutil.GVKForObject(obj, scheme)
		if err != nil {
			return err
		}
		obj.GetObjectKind().SetGroupVersionKind(gvk)
		if err := p.PrintObj(obj, w); err != nil {
			return err
		}
	}
	return nil
}

// printTable writes rows under columns with cli-runtime's table printer: columns
// of priority 1 only with -o wide; cells are escaped (a summary cannot move the
// cursor or break a row).
func printTable(w io.Writer, columns []metav1.TableColumnDefinition, rows [][]interface{}, withNamespace, wide bool) error {
	table := &metav1.Table{ColumnDefinitions: columns}
	if withNamespace {
		table.ColumnDefinitions = append([]metav1.TableColumnDefinition{{Name: "Namespace", Type: "string"}}, columns...)
	}
	for _, cells := range rows {
		table.Rows = append(table.Rows, metav1.TableRow{Cells: cells})
	}
	return printers.NewTablePrinter(printers.PrintOptions{Wide: wide}).PrintObj(table, w)
}

// customColumnsPrinter prints -o custom-columns=HEADER:JSONPATH,...: one row
// per item of a list (or one for an object), "<none>" where a path has no value.
type customColumnsPrinter struct {
	headers []string
	paths   []*jsonpath.JSONPath
}

func newCustomColumnsPrinter(spec string) (*customColumnsPrinter, error) {
	if spec == "" {
		return nil, fmt.Errorf("custom-columns format specified but no custom columns given")
	}
	p := &customColumnsPrinter{}
	for i, col := range strings.Split(spec, ",") {
		header, path, ok := strings.Cut(col, ":")
		if !ok || header == "" || path == "" {
			return nil, fmt.Errorf("unexpected custom-columns spec %q: expected HEADER:JSONPATH pairs separated by commas", col)
		}
		path = strings.TrimSuffix(strings.TrimPrefix(path, "{"), "}")
		if !strings.HasPrefix(path, ".") {
			path = "." + path
		}
		jp := jsonpath.New(fmt.Sprintf("column%d", i)).AllowMissingKeys(true)
		if err := jp.Parse("{" + path + "}"); err != nil {
			return nil, fmt.Errorf("custom-columns %q: %w", col, err)
		}
		p.headers = append(p.headers, header)
		p.paths = append(p.paths, jp)
	}
	return p, nil
}

func (p *customColumnsPrinter) PrintObj(obj runtime.Object, w io.Writer) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	var content map[string]interface{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&content); err != nil {
		return err
	}
	items := []interface{}{content}
	if list, ok := content["items"].([]interface{}); ok {
		items = list
	}
	tw := printers.GetNewTabWriter(w)
	writeRow := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				_, _ = fmt.Fprint(tw, "\t")
			}
			_ = printers.WriteEscaped(tw, strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(c))
		}
		_, _ = fmt.Fprintln(tw)
	}
	writeRow(p.headers) // as given, like kubectl
	for _, item := range items {
		cells := make([]string, len(p.paths))
		for i, jp := range p.paths {
			results, err := jp.FindResults(item)
			if err != nil {
				return err
			}
			var values []string
			for _, set := range results {
				for _, v := range set {
					values = append(values, valueText(v))
				}
			}
			cells[i] = "<none>"
			if len(values) > 0 {
				cells[i] = strings.Join(values, ",")
			}
		}
		writeRow(cells)
	}
	return tw.Flush()
}

func valueText(v reflect.Value) string {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "<none>"
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Map, reflect.Slice:
		data, err := json.Marshal(v.Interface())
		if err == nil {
			return string(data)
		}
	}
	return fmt.Sprint(v.Interface())
}
