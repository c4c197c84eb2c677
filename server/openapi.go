package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/pyjson"
)

// op documents one route for GET /openapi.json. The document is built from
// the route table and the Go types the handlers encode, so it cannot drift
// from what they answer (the e2e suite checks every answer against it).
type op struct {
	summary, desc string
	tag           string // tagCompat or tagEnclave
	query         []param
	// body is a value of the request body's type (nil: none); bodyMedia
	// its media type when not JSON; bodyRequired: a body must be sent.
	body         any
	bodyMedia    string
	bodyRequired bool
	fields       []string // the body's required fields
	// example and okExample are shown by /docs and checked against the
	// schemas by the document's validation (server/openapi_test.go).
	example, okExample any
	// bodyPatch amends the generated body schema where the parser takes
	// more than the Go type says.
	bodyPatch func(*openapi3.Schema)
	// ok is a value of the 200 answer's JSON type; okMedia a non-JSON
	// media type instead (its schema a string).
	ok      any
	okMedia string
	// stream: also answers text/event-stream (docs/api.md §12).
	stream bool
	// upgrade: a WebSocket upgrade (101).
	upgrade bool
	errs    []int
	public  bool // no API key needed
	// mcp: the MCP transport's answers (JSON-RPC, 202 for notifications,
	// its own error texts) rather than enclave's.
	mcp bool
}

type param struct {
	name, typ, desc string // typ: string, integer, number, boolean
	required        bool
	enum            func(*Server) []string
}

const (
	tagCompat  = "ms-enclave"
	tagEnclave = "enclave"
)

// errorBody is the shape of every error answer (docs/api.md §1.4, §1.5).
type errorBody struct {
	Detail any `json:"detail"`
}

// toolRequestJSON is the body of POST /sandbox/tool/execute (parsed by
// parseToolRequest).
type toolRequestJSON struct {
	SandboxID  string         `json:"sandbox_id"`
	ToolName   string         `json:"tool_name"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

type keepaliveRequestJSON struct {
	Timeout *float64 `json:"timeout,omitempty"`
}

type signalRequestJSON struct {
	Signal any `json:"signal"`
}

// undocumented lists the routes' patterns that have no op (none may).
func (s *Server) undocumented() []string {
	var out []string
	for _, rt := range s.routes() {
		if rt.doc.summary == "" {
			out = append(out, rt.pattern)
		}
	}
	return out
}

func (s *Server) openapiJSON(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.openapi()
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
	return nil
}

// openapi builds the OpenAPI 3.1 document of this server's routes.
func (s *Server) openapi() (*openapi3.T, error) {
	g := newSchemaGen()
	doc := &openapi3.T{
		OpenAPI: "3.1.0",
		Info: &openapi3.Info{
			Title:   "enclave",
			Version: s.opts.Version,
			Description: "Sandboxes for untrusted code over HTTP, wire-compatible with ms-enclave. " +
				"docs/api.md in the repository is the full contract; routes tagged `enclave` are enclave's own.",
			License: &openapi3.License{Name: "Apache-2.0"},
		},
		Paths:      openapi3.NewPaths(),
		Components: &openapi3.Components{Schemas: openapi3.Schemas{}, SecuritySchemes: openapi3.SecuritySchemes{}},
		Tags: openapi3.Tags{
			{Name: tagCompat, Description: "The routes of ms-enclave, answered as it does"},
			{Name: tagEnclave, Description: "enclave's own routes"},
		},
	}
	for name, v := range map[string]any{"Error": errorBody{}, "ToolResult": toolResultJSON{}, "SandboxInfo": sandboxJSON{}, "Process": processJSON{}} {
		sch, err := g.schema(v)
		if err != nil {
			return nil, err
		}
		doc.Components.Schemas[name] = sch
	}
	// detail: a message, or pydantic's list of validation errors.
	item, err := g.schema(validationError{})
	if err != nil {
		return nil, err
	}
	item.Value.Required = []string{"type", "loc", "msg"}
	doc.Components.Schemas["Error"].Value.Properties["detail"] = openapi3.NewAnyOfSchema(
		openapi3.NewStringSchema(), openapi3.NewArraySchema().WithItems(item.Value)).NewRef()
	keyed := len(s.opts.APIKeys) > 0
	if keyed {
		doc.Components.SecuritySchemes["apiKeyHeader"] = &openapi3.SecuritySchemeRef{Value: openapi3.NewSecurityScheme().
			WithType("apiKey").WithIn("header").WithName("X-API-Key")}
		doc.Components.SecuritySchemes["apiKeyQuery"] = &openapi3.SecuritySchemeRef{Value: openapi3.NewSecurityScheme().
			WithType("apiKey").WithIn("query").WithName("api_key")}
		doc.Security = openapi3.SecurityRequirements{{"apiKeyHeader": {}}, {"apiKeyQuery": {}}}
	}
	for _, rt := range s.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		path = strings.ReplaceAll(path, "...}", "}") // {path...}: the rest of the path
		o, err := s.operation(g, rt, method, path, keyed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rt.pattern, err)
		}
		item := doc.Paths.Value(path)
		if item == nil {
			item = &openapi3.PathItem{}
			doc.Paths.Set(path, item)
		}
		item.SetOperation(method, o)
	}
	return doc, nil
}

func (s *Server) operation(g *schemaGen, rt route, method, path string, keyed bool) (*openapi3.Operation, error) {
	d := rt.doc
	o := &openapi3.Operation{
		OperationID: operationID(method, path),
		Summary:     d.summary,
		Description: d.desc,
		Tags:        []string{d.tag},
		Responses:   openapi3.NewResponses(),
	}
	if d.public && keyed {
		o.Security = &openapi3.SecurityRequirements{}
	}
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") {
			name := strings.Trim(seg, "{}")
			o.Parameters = append(o.Parameters, &openapi3.ParameterRef{Value: openapi3.NewPathParameter(name).
				WithSchema(openapi3.NewStringSchema())})
		}
	}
	for _, p := range d.query {
		sch := &openapi3.Schema{Type: &openapi3.Types{p.typ}}
		if p.enum != nil {
			for _, v := range p.enum(s) {
				sch.Enum = append(sch.Enum, v)
			}
		}
		qp := openapi3.NewQueryParameter(p.name).WithSchema(sch).WithDescription(p.desc)
		qp.Required = p.required
		o.Parameters = append(o.Parameters, &openapi3.ParameterRef{Value: qp})
	}
	if d.body != nil || d.bodyMedia != "" {
		rb := openapi3.NewRequestBody().WithRequired(d.bodyRequired)
		if d.bodyMedia != "" {
			rb.WithContent(openapi3.NewContentWithSchema(binarySchema(), []string{d.bodyMedia}))
		} else {
			sch, err := g.schema(d.body)
			if err != nil {
				return nil, err
			}
			sch.Value.Required = d.fields
			if d.bodyPatch != nil {
				d.bodyPatch(sch.Value)
			}
			if !d.bodyRequired { // absent or null: none (docs/api.md §1.2)
				*sch.Value.Type = append(*sch.Value.Type, "null")
			}
			rb.WithContent(openapi3.NewContentWithJSONSchemaRef(sch))
			if d.example != nil {
				rb.Content.Get("application/json").Example = d.example
			}
		}
		o.RequestBody = &openapi3.RequestBodyRef{Value: rb}
	}
	ok := openapi3.NewResponse().WithDescription("OK")
	switch {
	case d.upgrade:
		o.Responses.Set("101", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("Switching Protocols (WebSocket)")})
	case d.mcp:
		ok.WithContent(openapi3.NewContentWithJSONSchema(&openapi3.Schema{}))
		o.Responses.Set("202", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("Accepted (a notification or response)")})
		o.Responses.Set("204", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("No Content (the session ended)")})
	case d.okMedia != "":
		ok.WithContent(openapi3.NewContentWithSchema(binarySchema(), []string{d.okMedia}))
	default:
		sch, err := g.ref(d.ok)
		if err != nil {
			return nil, err
		}
		ok.WithContent(openapi3.NewContentWithJSONSchemaRef(sch))
		if d.okExample != nil {
			ok.Content.Get("application/json").Example = d.okExample
		}
	}
	if d.stream {
		ok.Content["text/event-stream"] = openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())
	}
	if !d.upgrade {
		o.Responses.Set("200", &openapi3.ResponseRef{Value: ok})
	}
	codes := append([]int{http.StatusInternalServerError, http.StatusServiceUnavailable}, d.errs...)
	if keyed && !d.public {
		codes = append(codes, http.StatusUnauthorized)
	}
	sort.Ints(codes)
	for _, c := range codes {
		key := strconv.Itoa(c)
		if o.Responses.Value(key) != nil {
			continue
		}
		errContent := openapi3.NewContentWithJSONSchemaRef(openapi3.NewSchemaRef("#/components/schemas/Error", nil))
		if d.mcp && c != http.StatusUnauthorized {
			errContent = openapi3.NewContentWithSchema(&openapi3.Schema{}, []string{"*/*"})
		}
		o.Responses.Set(key, &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription(http.StatusText(c)).
			WithContent(errContent)})
	}
	return o, nil
}

// configBody: tools_config is an object of tool options or a list of tool
// names (docs/api.md §4.1), or null.
func configBody(s *openapi3.Schema) {
	names := openapi3.NewArraySchema().WithItems(openapi3.NewStringSchema())
	tc := openapi3.NewAnyOfSchema(openapi3.NewObjectSchema(), names, &openapi3.Schema{Type: &openapi3.Types{"null"}})
	tc.Description = "tool name → options, or a list of tool names"
	s.Properties["tools_config"] = tc.NewRef()
}

// operationID is e.g. get_sandbox_sandbox_id_processes.
func operationID(method, path string) string {
	r := strings.NewReplacer("/", "_", "{", "", "}", "")
	return strings.ToLower(method) + strings.TrimRight(r.Replace(path), "_")
}

func binarySchema() *openapi3.Schema {
	s := openapi3.NewStringSchema()
	s.Format = "binary"
	return s
}

// schemaGen turns the handlers' Go types into JSON Schema 2020-12 (OpenAPI
// 3.1): fields without omitempty are required, pointers may be null.
type schemaGen struct {
	gen *openapi3gen.Generator
	// named are the types kept as components, by Go type.
	named map[reflect.Type]string
}

func newSchemaGen() *schemaGen {
	g := &schemaGen{named: map[reflect.Type]string{
		reflect.TypeOf(toolResultJSON{}): "ToolResult",
		reflect.TypeOf(sandboxJSON{}):    "SandboxInfo",
		reflect.TypeOf(processJSON{}):    "Process",
	}}
	g.gen = openapi3gen.NewGenerator(openapi3gen.SchemaCustomizer(customize))
	return g
}

var (
	orderedType = reflect.TypeOf(pyjson.Ordered{})
	floatType   = reflect.TypeOf(pyjson.Float(0))
	rawType     = reflect.TypeOf(json.RawMessage{})
)

// customize fixes up openapi3gen's schema of one type.
func customize(_ string, t reflect.Type, tag reflect.StructTag, s *openapi3.Schema) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == orderedType:
		*s = openapi3.Schema{Type: &openapi3.Types{"object"}}
	case t == floatType:
		*s = openapi3.Schema{Type: &openapi3.Types{"number"}}
	case t == rawType, t.Kind() == reflect.Interface:
		*s = openapi3.Schema{} // any JSON value
	case t.Kind() == reflect.Struct:
		s.Required = nil
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" || strings.Contains(opts, "omitempty") {
				continue
			}
			s.Required = append(s.Required, name)
		}
	}
	if d := tag.Get("doc"); d != "" {
		s.Description = d
	}
	// OpenAPI 3.1 has no nullable: a type array with "null" instead.
	if s.Nullable {
		s.Nullable = false
		if s.Type != nil && !s.Type.Includes("null") {
			*s.Type = append(*s.Type, "null")
		}
	}
	return nil
}

// schema is the inline schema of v's type.
func (g *schemaGen) schema(v any) (*openapi3.SchemaRef, error) {
	return g.gen.NewSchemaRefForValue(v, nil)
}

// ref is a $ref to the component of v's type (or of its elements'), else
// v's inline schema.
func (g *schemaGen) ref(v any) (*openapi3.SchemaRef, error) {
	t := reflect.TypeOf(v)
	if name, ok := g.named[t]; ok {
		return openapi3.NewSchemaRef("#/components/schemas/"+name, nil), nil
	}
	if t.Kind() == reflect.Slice {
		if name, ok := g.named[t.Elem()]; ok {
			arr := openapi3.NewArraySchema()
			arr.Items = openapi3.NewSchemaRef("#/components/schemas/"+name, nil)
			return arr.NewRef(), nil
		}
	}
	return g.schema(v)
}

// statusNames are the values of the status query parameter.
func statusNames(*Server) []string {
	out := make([]string, len(manager.Statuses))
	for i, st := range manager.Statuses {
		out[i] = string(st)
	}
	return out
}
