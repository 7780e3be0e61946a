module github.com/tracemark/tracemark

go 1.26.8

require (
	github.com/dchest/siphash v1.2.3
	github.com/tiktoken-go/tokenizer v0.10.0
)

require github.com/dlclark/regexp2/v2 v2.5.1 // indirect
