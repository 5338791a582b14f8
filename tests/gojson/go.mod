module gojson

go 1.19
