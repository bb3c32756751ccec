module github.com/nbpipe/nbpipe

go 1.26.8

require (
	github.com/bmatcuk/doublestar/v4 v4.10.4
	github.com/robfig/cron/v3 v3.0.1
	go.yaml.in/yaml/v3 v3.0.6
)

require github.com/go-json-experiment/json v1.27.2
