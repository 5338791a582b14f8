// The other two ways the tests run a template with Go's own text/template:
//
//   - "data": a template over plain JSON data (map[string]any, numbers as float64), with
//     missingkey=zero and Ollama's functions: the differential tests of the Python executor
//     (mockserver/engine/gotemplate) against Go.
//   - "ollama": what Ollama's template package does with a template text at
//     ollama/ollama@fb3076099 (template/template.go): Parse (Vars from Identifiers; a template
//     naming neither .Messages nor .Response gets {{ .Response }} appended) and Execute's three
//     paths (prompt + suffix; the messages; the legacy per-message prompt/response loop,
//     whose last turn runs a copy cut after the first .Response, with no functions).
//
// Written from a reading of Ollama's source, with Go's standard library only (Go 1.19: no
// slices/maps packages).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

func ollamaFuncs(date string) template.FuncMap {
	return template.FuncMap{
		"json":        func(v any) string { return marshal(v) },
		"currentDate": func(args ...string) string { return date },
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
}

func renderData(c Case) (string, error) {
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(ollamaFuncs(c.CurrentDate)).Parse(c.Template)
	if err != nil {
		return "", err
	}
	var data any
	if len(c.Data) > 0 {
		if err := json.Unmarshal(c.Data, &data); err != nil {
			return "", err
		}
	}
	var out bytes.Buffer
	err = tmpl.Execute(&out, data)
	return out.String(), err
}

// identifiers is template.Identifiers.
func identifiers(n parse.Node) ([]string, error) {
	switch n := n.(type) {
	case *parse.ListNode:
		var names []string
		for _, n := range n.Nodes {
			i, err := identifiers(n)
			if err != nil {
				return names, err
			}
			names = append(names, i...)
		}
		return names, nil
	case *parse.TemplateNode:
		if n.Pipe == nil {
			return nil, errors.New("undefined template specified")
		}
		return identifiers(n.Pipe)
	case *parse.ActionNode:
		if n.Pipe == nil {
			return nil, errors.New("undefined action in template")
		}
		return identifiers(n.Pipe)
	case *parse.BranchNode:
		if n.Pipe == nil {
			return nil, errors.New("undefined branch")
		}
		names, err := identifiers(n.Pipe)
		if err != nil {
			return names, err
		}
		for _, n := range []*parse.ListNode{n.List, n.ElseList} {
			if n != nil {
				i, err := identifiers(n)
				if err != nil {
					return names, err
				}
				names = append(names, i...)
			}
		}
		return names, nil
	case *parse.IfNode:
		return identifiers(&n.BranchNode)
	case *parse.RangeNode:
		return identifiers(&n.BranchNode)
	case *parse.WithNode:
		return identifiers(&n.BranchNode)
	case *parse.PipeNode:
		var names []string
		for _, c := range n.Cmds {
			for _, a := range c.Args {
				i, err := identifiers(a)
				if err != nil {
					return names, err
				}
				names = append(names, i...)
			}
		}
		return names, nil
	case *parse.FieldNode:
		return n.Ident, nil
	case *parse.VariableNode:
		return n.Ident, nil
	}
	return nil, nil
}

func vars(t *template.Template) (map[string]bool, error) {
	set := map[string]bool{}
	for _, tt := range t.Templates() {
		for _, n := range tt.Root.Nodes {
			v, err := identifiers(n)
			if err != nil {
				return set, err
			}
			for _, name := range v {
				set[strings.ToLower(name)] = true
			}
		}
	}
	return set, nil
}

var responseNode = parse.ActionNode{
	NodeType: parse.NodeAction,
	Pipe: &parse.PipeNode{
		NodeType: parse.NodePipe,
		Cmds: []*parse.CommandNode{{
			NodeType: parse.NodeCommand,
			Args:     []parse.Node{&parse.FieldNode{NodeType: parse.NodeField, Ident: []string{"Response"}}},
		}},
	},
}

func ollamaParse(text, date string) (*template.Template, map[string]bool, error) {
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(ollamaFuncs(date)).Parse(text)
	if err != nil {
		return nil, nil, err
	}
	set, err := vars(tmpl)
	if err != nil {
		return nil, nil, err
	}
	if !set["messages"] && !set["response"] {
		tmpl.Tree.Root.Nodes = append(tmpl.Tree.Root.Nodes, &responseNode)
	}
	return tmpl, set, nil
}

func deleteNode(n parse.Node, fn func(parse.Node) bool) parse.Node {
	var walk func(n parse.Node) parse.Node
	walk = func(n parse.Node) parse.Node {
		if fn(n) {
			return nil
		}
		switch t := n.(type) {
		case *parse.ListNode:
			var nodes []parse.Node
			for _, c := range t.Nodes {
				if n := walk(c); n != nil {
					nodes = append(nodes, n)
				}
			}
			t.Nodes = nodes
			return t
		case *parse.IfNode:
			t.BranchNode = *walk(&t.BranchNode).(*parse.BranchNode)
		case *parse.WithNode:
			t.BranchNode = *walk(&t.BranchNode).(*parse.BranchNode)
		case *parse.RangeNode:
			t.BranchNode = *walk(&t.BranchNode).(*parse.BranchNode)
		case *parse.BranchNode:
			t.List = walk(t.List).(*parse.ListNode)
			if t.ElseList != nil {
				t.ElseList = walk(t.ElseList).(*parse.ListNode)
			}
		case *parse.ActionNode:
			n := walk(t.Pipe)
			if n == nil {
				return nil
			}
			t.Pipe = n.(*parse.PipeNode)
		case *parse.PipeNode:
			var commands []*parse.CommandNode
			for _, c := range t.Cmds {
				var args []parse.Node
				for _, a := range c.Args {
					if n := walk(a); n != nil {
						args = append(args, n)
					}
				}
				if len(args) == 0 {
					return nil
				}
				c.Args = args
				commands = append(commands, c)
			}
			if len(commands) == 0 {
				return nil
			}
			t.Cmds = commands
		}
		return n
	}
	return walk(n)
}

func renderOllama(c Case) (rendered string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("panic")
		}
	}()
	tmpl, set, err := ollamaParse(c.Template, c.CurrentDate)
	if err != nil {
		return "", err
	}
	think, level, isSet, err := thinkValues(c.Think)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if c.Prompt != "" && c.Suffix != "" {
		err = tmpl.Execute(&out, map[string]any{
			"Prompt": c.Prompt, "Suffix": c.Suffix, "Response": "",
			"Think": think, "ThinkLevel": level, "IsThinkSet": isSet,
		})
		return out.String(), err
	}
	system, messages := collate(c.Messages)
	if set["messages"] {
		err = tmpl.Execute(&out, map[string]any{
			"System": system, "Messages": messagesForTemplate(messages),
			"Tools": toolsForTemplate(c.Tools), "Response": "",
			"Think": think, "ThinkLevel": level, "IsThinkSet": isSet,
		})
		return out.String(), err
	}
	system = ""
	var prompt, response string
	execute := func() error {
		if err := tmpl.Execute(&out, map[string]any{
			"System": system, "Prompt": prompt, "Response": response,
			"Think": think, "ThinkLevel": level, "IsThinkSet": isSet,
		}); err != nil {
			return err
		}
		system, prompt, response = "", "", ""
		return nil
	}
	for _, m := range messages {
		switch m.Role {
		case "system":
			if prompt != "" || response != "" {
				if err := execute(); err != nil {
					return out.String(), err
				}
			}
			system = m.Content
		case "user":
			if response != "" {
				if err := execute(); err != nil {
					return out.String(), err
				}
			}
			prompt = m.Content
		case "assistant":
			response = m.Content
		}
	}
	var cut bool
	nodes := deleteNode(tmpl.Root.Copy(), func(n parse.Node) bool {
		if field, ok := n.(*parse.FieldNode); ok {
			for _, ident := range field.Ident {
				if ident == "Response" {
					cut = true
					return false
				}
			}
		}
		return cut
	})
	tree := parse.Tree{Root: nodes.(*parse.ListNode)}
	err = template.Must(template.New("").AddParseTree("", &tree)).Execute(&out, map[string]any{
		"System": system, "Prompt": prompt, "Response": response,
		"Think": think, "ThinkLevel": level, "IsThinkSet": isSet,
	})
	return out.String(), err
}

// serveLines is main's -lines mode: one JSON case per input line, one JSON result per output
// line, flushed, until EOF (a test generating many templates runs one process, not one each).
func serveLines() {
	reader := bufio.NewReaderSize(os.Stdin, 1<<20)
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetEscapeHTML(false)
	for {
		line, err := reader.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var c Case
			result := Result{}
			if jsonErr := json.Unmarshal(line, &c); jsonErr != nil {
				result.Error = jsonErr.Error()
			} else {
				result.ID = c.ID
				rendered, renderErr := renderData(c)
				result.Rendered = rendered
				if renderErr != nil {
					result.Error = renderErr.Error()
				}
			}
			if encodeErr := encoder.Encode(result); encodeErr != nil {
				os.Exit(2)
			}
		}
		if err != nil {
			return
		}
	}
}
