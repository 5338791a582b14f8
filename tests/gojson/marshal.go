// Command marshal prints what Go's json.Marshal writes for each input, so that
// tests/test_gojson.py can check mockserver/wire/gojson.py against a real Go encoder.
//
// Input (stdin): a JSON list of {"float": "<hex float>"} or {"value": <any JSON>}; a value is
// decoded with json.Unmarshal into any first (numbers become float64), as Ollama decodes
// tool-call arguments and schema values. Output: a JSON list of the marshaled texts.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

type input struct {
	Float *string         `json:"float"`
	Value json.RawMessage `json:"value"`
}

func main() {
	var inputs []input
	if err := json.NewDecoder(os.Stdin).Decode(&inputs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	outputs := make([]string, 0, len(inputs))
	for _, in := range inputs {
		var value any
		if in.Float != nil {
			f, err := strconv.ParseFloat(*in.Float, 64)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			value = f
		} else if err := json.Unmarshal(in.Value, &value); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		text, err := json.Marshal(value)
		if err != nil {
			text = []byte("error: " + err.Error())
		}
		outputs = append(outputs, string(text))
	}
	if err := json.NewEncoder(os.Stdout).Encode(outputs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
