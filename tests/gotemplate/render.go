// Command render executes Ollama chat templates with Go's own text/template, passing them
// what Ollama v0.32.15 (ollama/ollama@fb3076099) passes, so that the tests can check the
// fake's Python renderers against the template texts (tests/test_template_texts.py).
//
// Written from a reading of Ollama's source, using only Go's standard library:
//
//   - template/template.go: Parse (missingkey=zero, the funcs json, currentDate,
//     yesterdayDate, toTypeScriptType), Execute (the Messages path: System, Messages, Tools,
//     Response, Think, ThinkLevel, IsThinkSet), collate, and the template-side types
//     templateTools / templateTool / templateToolFunction / templateToolFunctionParameters /
//     templateProperties / templateArgs with their String methods (templateToolFunction and
//     templateToolFunctionParameters have none: text/template prints them with fmt's %v).
//   - api/types.go: Message, ToolCall, Tool, ToolFunction, ToolFunctionParameters,
//     ToolProperty (its JSON tags, PropertyType's string-or-list form, nested properties kept
//     in insertion order), ToolProperty.ToTypeScriptType, ThinkValue's Bool and String.
//   - server/prompt.go renderPrompt: Think = think.Bool(), ThinkLevel = think.String(),
//     IsThinkSet = think != nil.
//
// One deliberate difference: currentDate returns the case's current_date instead of the
// machine's date, so that a rendering is reproducible (the fake takes the date the same way).
//
// Input (stdin): a JSON list of cases {id, template, messages, tools, think, current_date}.
// Output (stdout): a JSON list of {id, rendered, error}.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/template"
	"time"
)

// --- the request types (api/types.go) ---------------------------------------------------

type Message struct {
	Role      string     `json:"role"`
	Content   string     `json:"content"`
	Thinking  string     `json:"thinking,omitempty"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	ToolName  string     `json:"tool_name,omitempty"`
}

type ToolCall struct {
	ID       string `json:"id,omitempty"`
	Function struct {
		Index     int            `json:"index"`
		Name      string         `json:"name"`
		Arguments map[string]any `json:"arguments"` // what ToMap gives the template
	} `json:"function"`
}

type Tool struct {
	Type     string       `json:"type"`
	Items    any          `json:"items,omitempty"`
	Function ToolFunction `json:"function"`
}

type ToolFunction struct {
	Name        string                 `json:"name"`
	Description string                 `json:"description,omitempty"`
	Parameters  ToolFunctionParameters `json:"parameters"`
}

type ToolFunctionParameters struct {
	Type       string         `json:"type"`
	Defs       any            `json:"$defs,omitempty"`
	Items      any            `json:"items,omitempty"`
	Required   []string       `json:"required,omitempty"`
	Properties *PropertiesMap `json:"properties"`
}

// PropertyType is a JSON-schema type: one string, or a list of them.
type PropertyType []string

func (p *PropertyType) UnmarshalJSON(data []byte) error {
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*p = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return err
	}
	*p = many
	return nil
}

func (p PropertyType) MarshalJSON() ([]byte, error) {
	if len(p) == 1 {
		return json.Marshal(p[0])
	}
	return json.Marshal([]string(p))
}

type ToolProperty struct {
	AnyOf       []ToolProperty `json:"anyOf,omitempty"`
	Type        PropertyType   `json:"type,omitempty"`
	Items       any            `json:"items,omitempty"`
	Description string         `json:"description,omitempty"`
	Enum        []any          `json:"enum,omitempty"`
	Properties  *PropertiesMap `json:"properties,omitempty"`
	Required    []string       `json:"required,omitempty"`
}

func (p ToolProperty) ToTypeScriptType() string {
	if len(p.AnyOf) > 0 {
		var types []string
		for _, one := range p.AnyOf {
			types = append(types, one.ToTypeScriptType())
		}
		return strings.Join(types, " | ")
	}
	if len(p.Type) == 0 {
		return "any"
	}
	var types []string
	for _, kind := range p.Type {
		types = append(types, typeScriptType(kind))
	}
	return strings.Join(types, " | ")
}

func typeScriptType(kind string) string {
	switch kind {
	case "string", "boolean", "null":
		return kind
	case "number", "integer":
		return "number"
	case "array":
		return "any[]"
	case "object":
		return "Record<string, any>"
	}
	return "any"
}

// PropertiesMap keeps the properties in the order the request gave them.
type PropertiesMap struct {
	keys   []string
	values map[string]ToolProperty
}

func (m *PropertiesMap) UnmarshalJSON(data []byte) error {
	decoder := json.NewDecoder(bytes.NewReader(data))
	if _, err := decoder.Token(); err != nil { // '{'
		return err
	}
	m.values = map[string]ToolProperty{}
	for decoder.More() {
		token, err := decoder.Token()
		if err != nil {
			return err
		}
		key := token.(string)
		var value ToolProperty
		if err := decoder.Decode(&value); err != nil {
			return err
		}
		if _, seen := m.values[key]; !seen {
			m.keys = append(m.keys, key)
		}
		m.values[key] = value
	}
	return nil
}

func (m PropertiesMap) MarshalJSON() ([]byte, error) {
	if m.values == nil {
		return []byte("null"), nil
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for i, key := range m.keys {
		if i > 0 {
			out.WriteByte(',')
		}
		name, _ := json.Marshal(key)
		value, err := json.Marshal(m.values[key])
		if err != nil {
			return nil, err
		}
		out.Write(name)
		out.WriteByte(':')
		out.Write(value)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

func (m *PropertiesMap) toMap() map[string]ToolProperty {
	if m == nil || m.values == nil {
		return nil
	}
	out := make(map[string]ToolProperty, len(m.values))
	for key, value := range m.values {
		out[key] = value
	}
	return out
}

// --- what the template sees (template/template.go) ---------------------------------------

type templateTools []templateTool

func (t templateTools) String() string { return marshal(t) }

type templateTool struct {
	Type     string               `json:"type"`
	Items    any                  `json:"items,omitempty"`
	Function templateToolFunction `json:"function"`
}

func (t templateTool) String() string { return marshal(t) }

type templateToolFunction struct {
	Name        string                         `json:"name"`
	Description string                         `json:"description"`
	Parameters  templateToolFunctionParameters `json:"parameters"`
}

type templateToolFunctionParameters struct {
	Type       string             `json:"type"`
	Defs       any                `json:"$defs,omitempty"`
	Items      any                `json:"items,omitempty"`
	Required   []string           `json:"required,omitempty"`
	Properties templateProperties `json:"properties"`
}

type templateProperties map[string]ToolProperty

func (t templateProperties) String() string {
	if t == nil {
		return "{}"
	}
	return marshal(t)
}

type templateArgs map[string]any

func (t templateArgs) String() string {
	if t == nil {
		return "{}"
	}
	return marshal(t)
}

type templateToolCall struct {
	ID       string
	Function templateToolCallFunction
}

type templateToolCallFunction struct {
	Index     int
	Name      string
	Arguments templateArgs
}

type templateMessage struct {
	Role       string
	Content    string
	Thinking   string
	Images     []string
	ToolCalls  []templateToolCall
	ToolName   string
	ToolCallID string
}

func marshal(v any) string {
	out, _ := json.Marshal(v)
	return string(out)
}

func toolsForTemplate(tools []Tool) templateTools {
	if tools == nil {
		return nil
	}
	out := make(templateTools, len(tools))
	for i, tool := range tools {
		parameters := tool.Function.Parameters
		out[i] = templateTool{
			Type:  tool.Type,
			Items: tool.Items,
			Function: templateToolFunction{
				Name:        tool.Function.Name,
				Description: tool.Function.Description,
				Parameters: templateToolFunctionParameters{
					Type:       parameters.Type,
					Defs:       parameters.Defs,
					Items:      parameters.Items,
					Required:   parameters.Required,
					Properties: templateProperties(parameters.Properties.toMap()),
				},
			},
		}
	}
	return out
}

func messagesForTemplate(messages []*Message) []*templateMessage {
	out := make([]*templateMessage, len(messages))
	for i, message := range messages {
		var calls []templateToolCall
		for _, call := range message.ToolCalls {
			calls = append(calls, templateToolCall{
				ID: call.ID,
				Function: templateToolCallFunction{
					Index:     call.Function.Index,
					Name:      call.Function.Name,
					Arguments: templateArgs(call.Function.Arguments),
				},
			})
		}
		out[i] = &templateMessage{
			Role:      message.Role,
			Content:   message.Content,
			Thinking:  message.Thinking,
			ToolCalls: calls,
			ToolName:  message.ToolName,
		}
	}
	return out
}

// collate: every system message's content joined for .System; consecutive messages of one
// role (but tool) merged, their contents joined by a blank line, even when one is empty.
func collate(messages []Message) (string, []*Message) {
	var system []string
	var collated []*Message
	for i := range messages {
		if messages[i].Role == "system" {
			system = append(system, messages[i].Content)
		}
		last := len(collated) - 1
		if last >= 0 && collated[last].Role == messages[i].Role && messages[i].Role != "tool" {
			collated[last].Content += "\n\n" + messages[i].Content
		} else {
			collated = append(collated, &messages[i])
		}
	}
	return strings.Join(system, "\n\n"), collated
}

// --- one rendering -------------------------------------------------------------------------

type Case struct {
	ID          string          `json:"id"`
	Template    string          `json:"template"`
	Messages    []Message       `json:"messages"`
	Tools       []Tool          `json:"tools"`
	Think       json.RawMessage `json:"think"`
	CurrentDate string          `json:"current_date"`
	Mode        string          `json:"mode"` // "", "data" or "ollama" (ollama.go)
	Data        json.RawMessage `json:"data"`
	Prompt      string          `json:"prompt"`
	Suffix      string          `json:"suffix"`
}

type Result struct {
	ID       string `json:"id"`
	Rendered string `json:"rendered"`
	Error    string `json:"error,omitempty"`
}

// thinkValues is ThinkValue's Bool, String and "is set" for the request's think field.
func thinkValues(raw json.RawMessage) (bool, string, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return false, "", false, nil
	}
	var value any
	if err := json.Unmarshal(raw, &value); err != nil {
		return false, "", false, err
	}
	switch v := value.(type) {
	case bool:
		if v {
			return true, "medium", true, nil
		}
		return false, "", true, nil
	case string:
		on := v == "high" || v == "medium" || v == "low" || v == "max"
		return on, v, true, nil
	}
	return false, "", true, nil
}

func render(c Case) (string, error) {
	date := c.CurrentDate
	funcs := template.FuncMap{
		"json": func(v any) string { return marshal(v) },
		"currentDate": func(args ...string) string {
			return date
		},
		"yesterdayDate": func(args ...string) string {
			day, err := time.Parse("2006-01-02", date)
			if err != nil {
				return ""
			}
			return day.AddDate(0, 0, -1).Format("2006-01-02")
		},
		"toTypeScriptType": func(v any) string {
			if property, ok := v.(ToolProperty); ok {
				return property.ToTypeScriptType()
			}
			if property, ok := v.(*ToolProperty); ok && property != nil {
				return property.ToTypeScriptType()
			}
			return "any"
		},
	}
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(c.Template)
	if err != nil {
		return "", err
	}
	think, level, set, err := thinkValues(c.Think)
	if err != nil {
		return "", err
	}
	system, messages := collate(c.Messages)
	var out bytes.Buffer
	err = tmpl.Execute(&out, map[string]any{
		"System":     system,
		"Messages":   messagesForTemplate(messages),
		"Tools":      toolsForTemplate(c.Tools),
		"Response":   "",
		"Think":      think,
		"ThinkLevel": level,
		"IsThinkSet": set,
	})
	return out.String(), err
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-lines" {
		serveLines()
		return
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var cases []Case
	if err := json.Unmarshal(input, &cases); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	results := make([]Result, 0, len(cases))
	for _, c := range cases {
		render := map[string]func(Case) (string, error){
			"": render, "data": renderData, "ollama": renderOllama,
		}[c.Mode]
		rendered, err := render(c)
		result := Result{ID: c.ID, Rendered: rendered}
		if err != nil {
			result.Error = err.Error()
		}
		results = append(results, result)
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
