module github.com/tracemark/tracemark

go 1.26.8

require github.com/dchest/siphash v1.2.3
