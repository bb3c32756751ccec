package server

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/dustin/go-humanize"
	"go.yaml.in/yaml/v3"

	"github.com/nbpipe/nbpipe/internal/pipeline"
	"github.com/nbpipe/nbpipe/webhook"
)

// Config is everything `nbpipe serve` needs. Each field can come from a flag,
// an environment variable or the config file; flags win over the environment,
// which wins over the file.
type Config struct {
	Listen       string `yaml:"listen"`
	GitHubSecret string `yaml:"github_secret"`
	GiteaSecret  string `yaml:"gitea_secret"`
	Insecure     bool   `yaml:"insecure"`
	StateDir     string `yaml:"state_dir"` // spool, caches, audit log
	MaxBody      Size   `yaml:"max_body"`
	// MaxNotebookSize refuses larger notebooks with a clear error.
	MaxNotebookSize Size `yaml:"max_notebook_size"`
	// Workers bounds how many source branches are processed at once.
	Workers int `yaml:"workers"`
	// MaxAttempts bounds the tries of a push that fails for a transient
	// reason before it becomes a dead letter.
	MaxAttempts int `yaml:"max_attempts"`
	// RetryBase and RetryMax shape the backoff between attempts.
	RetryBase time.Duration `yaml:"-"`
	RetryMax  time.Duration `yaml:"-"`
	Branches  []string      `yaml:"branches"` // globs of source branches that publish
	// Sources allow-lists source repositories (exact names or globs).
	Sources      []SourceRule `yaml:"sources"`
	TargetURL    string       `yaml:"target_url"`
	TargetToken  string       `yaml:"target_token"`
	TargetBranch string       `yaml:"target_branch"`
	GiteaURL     string       `yaml:"gitea_url"` // for commit statuses
	GiteaToken   string       `yaml:"gitea_token"`
	GitHubToken  string       `yaml:"github_token"`
	GitHubAPI    string       `yaml:"github_api"`
	// GitHubAppID and GitHubAppKeyFile authenticate nbpipe as a GitHub App
	// (installation tokens per repository owner) instead of a token.
	GitHubAppID int `yaml:"github_app_id"`
	// SSHKeyFile and SSHKnownHosts (files) are for ssh:// and scp-style
	// source and target URLs; host keys are always checked.
	SSHKeyFile       string   `yaml:"ssh_key_file"`
	SSHKnownHosts    []string `yaml:"ssh_known_hosts"`
	GitHubAppKeyFile string   `yaml:"github_app_key_file"`
	RatePerMin       int      `yaml:"rate_per_minute"`
	RatePerHour      int      `yaml:"rate_per_hour"`
	LogFormat        string   `yaml:"log_format"` // text or json
	// LockedKeys are conversion settings repositories and notebooks may not
	// set (for example allow_secrets or livy_conn_id).
	LockedKeys []string `yaml:"locked_keys"`
	// Convert holds server-wide conversion settings (the keys of
	// .nbpipe.yaml's defaults), under each repository's own.
	Convert map[string]any `yaml:"convert"`
	// Airflow is where DAGs that ask for it (trigger: true) are loaded,
	// unpaused and triggered after publishing.
	Airflow AirflowConfig `yaml:"airflow"`
	// Ilum receives the ilum_single, ilum_service and ilum_cron targets.
	Ilum IlumConfig `yaml:"ilum"`
}

// AirflowConfig reaches the Airflow 3 REST API. One way to authenticate:
// a pre-issued token, the api-server's [api_auth] jwt_secret (nbpipe mints
// short-lived HS512 tokens), or a user and password (POST /auth/token).
type AirflowConfig struct {
	URL       string `yaml:"url"`
	UIURL     string `yaml:"ui_url"` // links in statuses; default URL
	Token     string `yaml:"token"`
	JWTSecret string `yaml:"jwt_secret"`
	// JWTSubject and JWTRole are the self-minted token's user and role
	// (default nbpipe, OP: USER may unpause and trigger, creating pools
	// takes OP).
	JWTSubject string `yaml:"jwt_subject"`
	JWTRole    string `yaml:"jwt_role"`
	Username   string `yaml:"username"`
	Password   string `yaml:"password"`
	// Bundle is the DAG bundle that reads the target branch; BundleDir the
	// target directory that is its root ("" for the repository root).
	Bundle    string `yaml:"bundle"`
	BundleDir string `yaml:"bundle_dir"`
	// CreatePools creates the pools DAGs name when missing (one slot);
	// false fails the DAG's status instead.
	CreatePools bool          `yaml:"create_pools"`
	LoadTimeout time.Duration `yaml:"load_timeout"`
	RunTimeout  time.Duration `yaml:"run_timeout"`
}

// IlumConfig reaches ilum-core's REST API.
type IlumConfig struct {
	URL   string `yaml:"url"`
	UIURL string `yaml:"ui_url"`
	Token string `yaml:"token"`
}

// SourceRule grants a source repository (or a glob of them) a clone URL and
// a target directory.
type SourceRule struct {
	Repo      string `yaml:"repo"`       // owner/name or a glob such as team/*
	CloneURL  string `yaml:"clone_url"`  // {repo}, {owner}, {name} are replaced; "" trusts the signed payload
	Token     string `yaml:"token"`      // defaults to the forge token
	TargetDir string `yaml:"target_dir"` // {repo} and {name} are replaced
}

type setting struct {
	name  string   // flag name and config key with - for _
	env   []string // environment variables, first set wins
	usage string
	str   *string
	strs  *[]string
	num   *int
	size  *Size
	flag  *bool
	file  bool // a `--name-file` flag/env reads the value from a file
}

func (c *Config) settings() []setting {
	return []setting{
		{name: "listen", env: []string{"NBPIPE_LISTEN"}, usage: "address to listen on", str: &c.Listen},
		{name: "github-secret", env: []string{"NBPIPE_GITHUB_SECRET"}, usage: "GitHub webhook secret", str: &c.GitHubSecret, file: true},
		{name: "gitea-secret", env: []string{"NBPIPE_GITEA_SECRET", "GITEA_WEBHOOK_SECRET"}, usage: "Gitea webhook secret", str: &c.GiteaSecret, file: true},
		{name: "insecure", env: []string{"NBPIPE_INSECURE"}, usage: "accept unsigned deliveries (never in production)", flag: &c.Insecure},
		{name: "state-dir", env: []string{"NBPIPE_STATE_DIR"}, usage: "spool, caches and audit log", str: &c.StateDir},
		{name: "max-body", env: []string{"NBPIPE_MAX_BODY"}, usage: "largest delivery body (e.g. 25MB, 10MiB, 500k)", size: &c.MaxBody},
		{name: "max-notebook-size", env: []string{"NBPIPE_MAX_NOTEBOOK_SIZE"}, usage: "largest notebook converted (e.g. 100MB)", size: &c.MaxNotebookSize},
		{name: "workers", env: []string{"NBPIPE_WORKERS"}, usage: "source branches processed at once", num: &c.Workers},
		{name: "max-attempts", env: []string{"NBPIPE_MAX_ATTEMPTS"}, usage: "tries of a failing push before it becomes a dead letter", num: &c.MaxAttempts},
		{name: "branches", env: []string{"NBPIPE_BRANCHES"}, usage: "comma-separated globs of source branches that publish", strs: &c.Branches},
		{name: "target-url", env: []string{"NBPIPE_TARGET_URL"}, usage: "clone URL of the Airflow dags repository", str: &c.TargetURL},
		{name: "target-token", env: []string{"NBPIPE_TARGET_TOKEN", "GITEA_TOKEN"}, usage: "token for pushing to the target", str: &c.TargetToken, file: true},
		{name: "target-branch", env: []string{"NBPIPE_TARGET_BRANCH", "GITEA_BRANCH"}, usage: "target branch", str: &c.TargetBranch},
		{name: "gitea-url", env: []string{"NBPIPE_GITEA_URL", "GITEA_API_URL"}, usage: "Gitea base URL for commit statuses", str: &c.GiteaURL},
		{name: "gitea-token", env: []string{"NBPIPE_GITEA_TOKEN", "GITEA_TOKEN"}, usage: "Gitea token", str: &c.GiteaToken, file: true},
		{name: "github-token", env: []string{"NBPIPE_GITHUB_TOKEN", "GITHUB_TOKEN"}, usage: "GitHub token", str: &c.GitHubToken, file: true},
		{name: "github-app-id", env: []string{"NBPIPE_GITHUB_APP_ID"}, usage: "GitHub App id (with --github-app-key-file, instead of a token)", num: &c.GitHubAppID},
		{name: "github-app-key-file", env: []string{"NBPIPE_GITHUB_APP_KEY_FILE"}, usage: "the GitHub App's private key (PEM file)", str: &c.GitHubAppKeyFile},
		{name: "ssh-key-file", env: []string{"NBPIPE_SSH_KEY_FILE"}, usage: "private key for SSH remotes", str: &c.SSHKeyFile},
		{name: "ssh-known-hosts", env: []string{"NBPIPE_SSH_KNOWN_HOSTS"}, usage: "comma-separated known_hosts files for SSH remotes (default ~/.ssh/known_hosts)", strs: &c.SSHKnownHosts},
		{name: "github-api", env: []string{"NBPIPE_GITHUB_API"}, usage: "GitHub Enterprise API URL", str: &c.GitHubAPI},
		{name: "rate-per-minute", env: []string{"NBPIPE_RATE_LIMIT_PER_MINUTE", "JPE_RATE_LIMIT_PER_MINUTE"}, usage: "pushes per sender per minute", num: &c.RatePerMin},
		{name: "rate-per-hour", env: []string{"NBPIPE_RATE_LIMIT_PER_HOUR", "JPE_RATE_LIMIT_PER_HOUR"}, usage: "pushes per sender per hour", num: &c.RatePerHour},
		{name: "log-format", env: []string{"NBPIPE_LOG_FORMAT"}, usage: "text or json", str: &c.LogFormat},
		{name: "airflow-url", env: []string{"NBPIPE_AIRFLOW_URL", "AIRFLOW_API_URL"}, usage: "Airflow 3 base URL (trigger: true DAGs are loaded, unpaused and triggered)", str: &c.Airflow.URL},
		{name: "airflow-token", env: []string{"NBPIPE_AIRFLOW_TOKEN", "AIRFLOW_API_TOKEN"}, usage: "pre-issued Airflow API token", str: &c.Airflow.Token, file: true},
		{name: "airflow-jwt-secret", env: []string{"NBPIPE_AIRFLOW_JWT_SECRET", "AIRFLOW_JWT_SECRET"}, usage: "Airflow [api_auth] jwt_secret: nbpipe mints its own tokens", str: &c.Airflow.JWTSecret, file: true},
		{name: "airflow-username", env: []string{"NBPIPE_AIRFLOW_USERNAME", "AIRFLOW_USER"}, usage: "Airflow user (POST /auth/token)", str: &c.Airflow.Username},
		{name: "airflow-password", env: []string{"NBPIPE_AIRFLOW_PASSWORD", "AIRFLOW_PASSWORD"}, usage: "Airflow password", str: &c.Airflow.Password, file: true},
		{name: "airflow-bundle", env: []string{"NBPIPE_AIRFLOW_BUNDLE"}, usage: "the DAG bundle that reads the target branch", str: &c.Airflow.Bundle},
		{name: "ilum-url", env: []string{"NBPIPE_ILUM_URL", "ILUM_API_URL"}, usage: "ilum-core base URL", str: &c.Ilum.URL},
		{name: "ilum-token", env: []string{"NBPIPE_ILUM_TOKEN", "ILUM_API_TOKEN"}, usage: "Ilum bearer token", str: &c.Ilum.Token, file: true},
		{name: "locked-keys", env: []string{"NBPIPE_LOCKED_KEYS"}, usage: "comma-separated conversion keys only the server may set", strs: &c.LockedKeys},
	}
}

func defaults() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		MaxBody:         webhook.DefaultMaxBody,
		MaxNotebookSize: pipeline.DefaultMaxNotebookBytes,
		Workers:         4,
		MaxAttempts:     8,
		RetryBase:       2 * time.Second,
		RetryMax:        5 * time.Minute,
		Airflow: AirflowConfig{CreatePools: true, LoadTimeout: 5 * time.Minute, RunTimeout: time.Hour,
			JWTSubject: "nbpipe", JWTRole: "OP"},
		Branches:     []string{"main", "master"},
		TargetBranch: "main",
		RatePerMin:   10,
		RatePerHour:  60,
		LogFormat:    "text",
	}
}

// Load reads the configuration: defaults < --config file < environment <
// flags. getenv is os.Getenv outside tests.
func Load(args []string, getenv func(string) string) (Config, error) {
	c := defaults()
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgFile := fl.String("config", getenv("NBPIPE_CONFIG"), "config file (YAML)")
	set := c.settings()
	type val struct{ s string }
	values := make([]val, len(set))
	files := make([]val, len(set))
	for i, s := range set {
		if s.flag != nil {
			fl.Func(s.name, s.usage, func(v string) error { values[i].s = v; return nil })
			continue
		}
		fl.StringVar(&values[i].s, s.name, "", s.usage)
		if s.file {
			fl.StringVar(&files[i].s, s.name+"-file", "", s.usage+", read from a file")
		}
	}
	var convertFlags []string
	fl.Func("convert", "a server-wide conversion setting, `KEY=VALUE` (YAML value; repeatable)", func(v string) error {
		convertFlags = append(convertFlags, v)
		return nil
	})
	if err := fl.Parse(boolFlags(args, set)); err != nil {
		return c, err
	}
	if *cfgFile != "" {
		data, err := os.ReadFile(*cfgFile)
		if err != nil {
			return c, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("%s: %s", *cfgFile, strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
	if err := c.mergeConvert(getenv("NBPIPE_CONVERT"), convertFlags); err != nil {
		return c, err
	}
	for i, s := range set {
		env := ""
		for _, name := range s.env {
			if v := getenv(name); v != "" {
				env = v
				break
			}
			if s.file {
				if p := getenv(name + "_FILE"); p != "" {
					data, err := os.ReadFile(p)
					if err != nil {
						return c, fmt.Errorf("%s_FILE: %w", name, err)
					}
					env = strings.TrimSpace(string(data))
					break
				}
			}
		}
		v := values[i].s
		if files[i].s != "" {
			data, err := os.ReadFile(files[i].s)
			if err != nil {
				return c, fmt.Errorf("--%s-file: %w", s.name, err)
			}
			v = strings.TrimSpace(string(data))
		}
		if v == "" {
			v = env
		}
		if v == "" {
			continue
		}
		if err := s.assign(v); err != nil {
			return c, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if len(c.Sources) == 0 && getenv("NBPIPE_SOURCES_ANY") == "1" {
		// The embedded default: any repository whose signed push arrives,
		// fetched from the payload's clone URL, each in its own directory.
		c.Sources = []SourceRule{{Repo: "**", TargetDir: "{name}"}}
	}
	return c, c.validate()
}

// boolFlags rewrites a bare --insecure into --insecure=true.
func boolFlags(args []string, set []setting) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		for _, s := range set {
			if s.flag != nil && (a == "--"+s.name || a == "-"+s.name) {
				out[i] = a + "=true"
			}
		}
	}
	return out
}

func (s setting) assign(v string) error {
	switch {
	case s.str != nil:
		*s.str = v
	case s.strs != nil:
		*s.strs = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				*s.strs = append(*s.strs, p)
			}
		}
	case s.flag != nil:
		switch strings.ToLower(v) {
		case "1", "true", "yes":
			*s.flag = true
		case "0", "false", "no":
			*s.flag = false
		default:
			return fmt.Errorf("%q is not true or false", v)
		}
	case s.num != nil:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a non-negative whole number", v)
		}
		*s.num = n
	case s.size != nil:
		return s.size.parse(v)
	}
	return nil
}

// Size is a byte count written with or without a unit: 26214400, 25MB,
// 25MiB, 500k (go-humanize's rules: MB is 10^6, MiB is 2^20).
type Size int64

func (z *Size) parse(v string) error {
	n, err := humanize.ParseBytes(strings.TrimSpace(v))
	if err != nil || n > math.MaxInt64 || n == 0 {
		return fmt.Errorf("%q is not a size (use a number of bytes or a unit: 25MB, 10MiB, 500k)", v)
	}
	*z = Size(n)
	return nil
}

// UnmarshalYAML reads a size as a number or a string with a unit.
func (z *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a size", n.Line)
	}
	if err := z.parse(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// mergeConvert lays the environment's NBPIPE_CONVERT (a YAML mapping) and
// then the --convert KEY=VALUE flags over the file's convert settings, key
// by key.
func (c *Config) mergeConvert(env string, flags []string) error {
	if c.Convert == nil {
		c.Convert = map[string]any{}
	}
	if env != "" {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(env), &m); err != nil || m == nil {
			return errors.New("NBPIPE_CONVERT: want a YAML mapping such as {livy_conn_id: livy_prod, owner: data-eng}")
		}
		maps.Copy(c.Convert, m)
	}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if k = strings.TrimSpace(k); !ok || k == "" {
			return fmt.Errorf("--convert %q: want KEY=VALUE", f)
		}
		var val any
		if err := yaml.Unmarshal([]byte(v), &val); err != nil {
			return fmt.Errorf("--convert %s: %v", k, err)
		}
		c.Convert[k] = val
	}
	return nil
}

func (c *Config) validate() error {
	// The seed's GITEA_API_URL names the API root (http://gitea:3000/api/v1);
	// the Gitea SDK adds /api/v1 itself.
	c.GiteaURL = strings.TrimSuffix(strings.TrimSuffix(c.GiteaURL, "/"), "/api/v1")
	if c.GitHubSecret == "" && c.GiteaSecret == "" && !c.Insecure {
		return errors.New("no webhook secret: set --gitea-secret and/or --github-secret (or --insecure, never in production)")
	}
	if c.StateDir == "" {
		return errors.New("--state-dir is required")
	}
	if c.TargetURL == "" {
		return errors.New("--target-url is required")
	}
	for _, b := range c.Branches {
		if !doublestar.ValidatePattern(b) {
			return fmt.Errorf("branches: invalid glob %q", b)
		}
	}
	for i, s := range c.Sources {
		if s.Repo == "" || !doublestar.ValidatePattern(s.Repo) {
			return fmt.Errorf("sources[%d]: needs repo (a name or glob)", i)
		}
	}
	if (c.GitHubAppID == 0) != (c.GitHubAppKeyFile == "") {
		return errors.New("github app: set github_app_id and github_app_key_file together")
	}
	if c.Workers < 1 || c.MaxAttempts < 1 {
		return errors.New("workers and max-attempts must be at least 1")
	}
	if a := &c.Airflow; a.URL != "" {
		// One way is used, in the seed's order: a pre-issued token, else a
		// token minted with jwt_secret, else a login (the seed's
		// deployments set AIRFLOW_USER beside AIRFLOW_JWT_SECRET).
		switch {
		case a.Token != "":
			a.JWTSecret, a.Username, a.Password = "", "", ""
		case a.JWTSecret != "":
			a.Username, a.Password = "", ""
		case a.Username == "" && a.Password == "":
			return errors.New("airflow: set a way to authenticate: token, jwt_secret, or username and password")
		}
		if (a.Username == "") != (a.Password == "") {
			return errors.New("airflow: username and password go together")
		}
		if a.LoadTimeout <= 0 || a.RunTimeout <= 0 {
			return errors.New("airflow: load_timeout and run_timeout must be positive")
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log-format %q: want text or json", c.LogFormat)
	}
	c.StateDir = filepath.Clean(c.StateDir)
	return nil
}

// secrets lists every secret value the configuration holds, for scrubbing.
func (c *Config) secrets() []string {
	out := []string{c.GitHubSecret, c.GiteaSecret, c.TargetToken, c.GiteaToken, c.GitHubToken,
		c.Airflow.Token, c.Airflow.JWTSecret, c.Airflow.Password, c.Ilum.Token}
	for _, s := range c.Sources {
		out = append(out, s.Token)
	}
	return out
}

// sourceToken picks the token for a source rule and the one host it may be
// sent to: the rule's own token goes to its clone URL's host (or, for a rule
// that trusts the payload's URL, the forge's host); the Gitea token only to
// gitea_url's host; the GitHub token only to GitHub (or the Enterprise host
// of github_api). Anything else is fetched anonymously.
func (c *Config) sourceToken(r SourceRule) (token, host string) {
	if r.Token != "" {
		if r.CloneURL != "" {
			return r.Token, pipeline.HostOf(r.CloneURL)
		}
		if c.GiteaURL != "" {
			return r.Token, pipeline.HostOf(c.GiteaURL)
		}
		return r.Token, c.githubHost()
	}
	if c.GiteaToken != "" && c.GiteaURL != "" {
		return c.GiteaToken, pipeline.HostOf(c.GiteaURL)
	}
	if c.GitHubToken != "" {
		return c.GitHubToken, c.githubHost()
	}
	return "", ""
}

// githubHost is where GitHub's git lives: github.com, or the Enterprise host
// that serves github_api (https://ghe.example.com/api/v3).
func (c *Config) githubHost() string {
	if c.GitHubAPI == "" {
		return "github.com"
	}
	h := pipeline.HostOf(c.GitHubAPI)
	return strings.TrimPrefix(h, "api.")
}

// source finds the first rule allowing repo.
func (c *Config) source(repo string) (SourceRule, bool) {
	for _, s := range c.Sources {
		if ok, _ := doublestar.Match(s.Repo, repo); ok {
			owner, name, _ := strings.Cut(repo, "/")
			r := strings.NewReplacer("{repo}", repo, "{owner}", owner, "{name}", name)
			s.CloneURL, s.TargetDir = r.Replace(s.CloneURL), r.Replace(s.TargetDir)
			return s, true
		}
	}
	return SourceRule{}, false
}
