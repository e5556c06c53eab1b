package plugin

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"sync"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/cxops/cxops/config/crd"
)

// kindSchema is what the API server builds from one version of a CRD to decode and
// validate custom resources: the structural schema (pruning, defaulting, list
// types), the OpenAPI validator and the CEL validator.
type kindSchema struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	hasStatus  bool
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// schemaSet holds the schemas of every served version of every embedded CRD.
type schemaSet struct {
	group  string
	byGVK  map[schema.GroupVersionKind]*kindSchema
	served map[string][]string // kind → served versions, for messages
}

var (
	embeddedOnce    sync.Once
	embeddedSchemas *schemaSet
	embeddedErr     error
)

// loadEmbeddedSchemas builds (once) the schemas of the CRDs embedded in config/crd.
func loadEmbeddedSchemas() (*schemaSet, error) {
	embeddedOnce.Do(func() {
		embeddedSchemas, embeddedErr = loadSchemas(crd.Bases)
	})
	return embeddedSchemas, embeddedErr
}

// loadSchemas reads every *.yaml CRD under fsys and builds its schemas the way
// the apiextensions-apiserver does (customresource_handler.go and strategy.go).
func loadSchemas(fsys fs.FS) (*schemaSet, error) {
	files, err := fs.Glob(fsys, "bases/*.yaml")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CustomResourceDefinitions embedded")
	}
	set := &schemaSet{byGVK: map[schema.GroupVersionKind]*kindSchema{}, served: map[string][]string{}}
	for _, name := range files {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var def apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &def); err != nil {
			return nil, fmt.Errorf("reading CRD %s: %w", name, err)
		}
		set.group = def.Spec.Group
		for i := range def.Spec.Versions {
			v := &def.Spec.Versions[i]
			if !v.Served {
				continue
			}
			ks, err := buildKindSchema(&def, v)
			if err != nil {
				return nil, fmt.Errorf("CRD %s version %s: %w", def.Name, v.Name, err)
			}
			set.byGVK[ks.gvk] = ks
			set.served[ks.gvk.Kind] = append(set.served[ks.gvk.Kind], v.Name)
		}
	}
	return set, nil
}

func buildKindSchema(def *apiextensionsv1.CustomResourceDefinition, v *apiextensionsv1.CustomResourceDefinitionVersion) (*kindSchema, error) {
	ks := &kindSchema{
		gvk:        schema.GroupVersionKind{Group: def.Spec.Group, Version: v.Name, Kind: def.Spec.Names.Kind},
		namespaced: def.Spec.Scope == apiextensionsv1.NamespaceScoped,
		hasStatus:  v.Subresources != nil && v.Subresources.Status != nil,
	}
	if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
		return nil, fmt.Errorf("no OpenAPI v3 schema")
	}
	internal := &apiextensionsinternal.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, internal, nil); err != nil {
		return nil, fmt.Errorf("converting the schema to the internal version: %w", err)
	}
	s, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, fmt.Errorf("the schema is not structural: %w", err)
	}
	s = s.DeepCopy()
	if err := structuraldefaulting.PruneDefaults(s); err != nil {
		return nil, fmt.Errorf("pruning defaults: %w", err)
	}
	ks.structural = s
	validator, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, fmt.Errorf("building the OpenAPI validator: %w", err)
	}
	ks.validator = validator
	// CEL programs are compiled here, once, as the API server does.
	ks.cel = cel.NewValidator(s, true, celconfig.PerCallLimit)
	return ks, nil
}

// validateObject decodes and validates one custom resource exactly as the API
// server does on create with fieldValidation=Strict: unknown fields (what would be
// pruned) and malformed metadata are errors, defaults are applied, status is
// dropped (the status subresource ignores it on create), then the OpenAPI schema,
// metadata, list-type invariants and CEL rules are checked. obj is modified
// (pruned and defaulted). namespace is used when the object has none. It returns
// the paths of unknown fields, the validation errors and, when an error stopped
// the CEL rules from running, the API server's note saying so (empty otherwise):
// that note is not an error of its own.
func (ks *kindSchema) validateObject(ctx context.Context, obj map[string]interface{}, namespace string) (unknown []string, errs field.ErrorList, note string) {
	// Decoding (customresource_handler.go, unstructuredSchemaCoercer.apply).
	objectMeta, _, metaUnknown, err := schemaobjectmeta.GetObjectMetaWithOptions(obj, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		errs = append(errs, field.Invalid(field.NewPath("metadata"), nil, err.Error()))
		return nil, errs, ""
	}
	unknown = append(unknown, metaUnknown...)
	unknown = append(unknown, structuralpruning.PruneWithOptions(obj, ks.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, ks.structural)
	if ferr, paths := schemaobjectmeta.CoerceWithOptions(nil, obj, ks.structural, false,
		schemaobjectmeta.CoerceOptions{ReturnUnknownFieldPaths: true}); ferr != nil {
		errs = append(errs, ferr)
	} else {
		unknown = append(unknown, paths...)
	}
	sort.Strings(unknown)
	structuraldefaulting.Default(obj, ks.structural)

	// Create (strategy.go): status is ignored on create when it is a subresource.
	if ks.hasStatus {
		delete(obj, "status")
	}

	// Validation (strategy.go Validate, validator.go).
	if objectMeta == nil {
		errs = append(errs, field.Required(field.NewPath("metadata"), "metadata with a name is required"))
	} else {
		meta := objectMeta.DeepCopy()
		if meta.Name == "" && meta.GenerateName != "" {
			meta.Name = meta.GenerateName + "x0000" // the server generates a suffix
		}
		if ks.namespaced && meta.Namespace == "" {
			meta.Namespace = namespace
		}
		errs = append(errs, metavalidation.ValidateObjectMeta(meta, ks.namespaced, metavalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	}
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, ks.validator)...)
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, obj, ks.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, ks.structural, obj)...)
	if hasBlockingErr(errs) {
		note = celNotChecked
	} else if ks.cel != nil {
		celErrs, _ := ks.cel.Validate(ctx, nil, ks.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	return unknown, errs, note
}

// celNotChecked is what the API server adds (as one more error) when an error
// stopped the CEL rules from running.
const celNotChecked = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"

// hasBlockingErr mirrors the API server: wrong types, unsupported enum values,
// missing required fields and exceeded limits stop CEL rules from running.
func hasBlockingErr(errs field.ErrorList) bool {
	for _, err := range errs {
		switch err.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true
		}
	}
	return false
}
