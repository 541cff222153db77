// Package rules holds rootwatch's built-in Sigma rules and loads rule files
// from directories.
//
// The built-in rules are plain Sigma YAML files in the builtin directory of
// this package, embedded in the binary with go:embed: users can read them,
// copy them and write their own in the same format. Their names
// (root-console-login, root-console-login-no-mfa, root-console-login-failure,
// root-api-call, root-access-key-created, root-mfa-change,
// root-password-change, root-account-settings-change, assume-root,
// trail-tampering, log-delivery-tampering, and the correlation rules
// root-login-brute-force, root-login-brute-force-ips and
// root-takeover-chain) are a public contract. Each rule's description records what it matches, what it
// deliberately does not, and which other rules fire on the same record.
//
// A rule file may hold several YAML documents (sigma.ParseAll): a
// correlation rule and the helper rules it hides
// (root-takeover-chain.yml holds root-takeover-credential-step).
//
// Rule tests (see package ruletest) live beside the rules, in tests
// directories or in files named *_test.yml; the loaders here skip them.
package rules

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rootwatch/rootwatch/detector/sigma"
)

// The built-in rules and their tests, as files: builtin/*.yml and
// builtin/tests/*.yml.
var (
	//go:embed builtin/*.yml
	builtinRules embed.FS
	//go:embed builtin/tests/*.yml
	builtinTests embed.FS
)

// Builtin parses the embedded built-in rules, in file-name order. Each
// Rule.File is "builtin/<name>.yml". An error here is a bug in rootwatch (the
// rules are tested), never a user error.
func Builtin() ([]*sigma.Rule, error) { return BuiltinWithOptions(sigma.Options{}) }

// BuiltinWithOptions is Builtin with parse options: the placeholder values
// for log-delivery-tampering (see ParseProtect).
func BuiltinWithOptions(opts sigma.Options) ([]*sigma.Rule, error) {
	rs, err := LoadFSWithOptions(builtinRules, "builtin", "builtin", opts)
	if err != nil {
		return nil, fmt.Errorf("built-in rules: %w", err)
	}
	return rs, nil
}

// BuiltinFS returns the embedded built-in rule files, at the root of the
// returned file system ("root-api-call.yml"), for showing or copying a
// rule's source.
func BuiltinFS() fs.FS { return mustSub(builtinRules, "builtin") }

// BuiltinTestFS returns the embedded test files of the built-in rules, at the
// root of the returned file system ("root-api-call.yml"), in the format of
// package ruletest.
func BuiltinTestFS() fs.FS { return mustSub(builtinTests, "builtin/tests") }

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil { // fs.Sub fails only for an invalid path; dir is a constant.
		panic(fmt.Sprintf("rules: embedded %s: %v", dir, err))
	}
	return sub
}

// LoadDir parses every rule file under dir, recursively: files ending in .yml
// or .yaml, except rule tests (see IsTestPath), anything inside a hidden
// directory or named with a leading dot, and subdirectories named testdata
// (fixtures, as for the go tool). Rules come back sorted by path, so
// the order is the same on every run. The first file that cannot be read or
// parsed stops loading; the error names that file (and, for a rule that does
// not parse, the line and the construct).
//
// A dir that does not exist or is not a directory is an error; a directory
// without rule files gives no rules and no error.
func LoadDir(dir string) ([]*sigma.Rule, error) { return LoadDirWithOptions(dir, sigma.Options{}) }

// LoadDirWithOptions is LoadDir with parse options (placeholder values).
func LoadDirWithOptions(dir string, opts sigma.Options) ([]*sigma.Rule, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("rules directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("rules directory %s: not a directory", dir)
	}
	return load(os.DirFS(dir), ".", func(rel string) string {
		return filepath.Join(dir, filepath.FromSlash(rel))
	}, opts)
}

// LoadFS is LoadDir over a file system: it loads the rule files under root
// (a slash-separated path, "." for all of fsys). Rule.File and error
// messages name each file as prefix joined with its path below root (the
// bare relative path when prefix is empty).
func LoadFS(fsys fs.FS, root, prefix string) ([]*sigma.Rule, error) {
	return LoadFSWithOptions(fsys, root, prefix, sigma.Options{})
}

// LoadFSWithOptions is LoadFS with parse options (placeholder values).
func LoadFSWithOptions(fsys fs.FS, root, prefix string, opts sigma.Options) ([]*sigma.Rule, error) {
	return load(fsys, root, func(rel string) string { return path.Join(prefix, rel) }, opts)
}

// load walks root in fsys; name turns a path relative to root into the name
// used in Rule.File and errors.
func load(fsys fs.FS, root string, name func(rel string) string, opts sigma.Options) ([]*sigma.Rule, error) {
	relPath := func(p string) string {
		if root == "." {
			return p
		}
		if rel := strings.TrimPrefix(strings.TrimPrefix(p, root), "/"); rel != "" {
			return rel
		}
		return "."
	}
	displayName := func(p string) string { return name(relPath(p)) }
	var files []string
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", displayName(p), err)
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != root && (d.Name() == testsDir || d.Name() == "testdata") {
				return fs.SkipDir
			}
			return nil
		}
		if !isRuleFile(d.Name()) || IsTestPath(relPath(p)) {
			return nil
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil // sockets, devices, pipes
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	rs := make([]*sigma.Rule, 0, len(files))
	for _, p := range files {
		name := displayName(p)
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("rule file %s: %w", name, err)
		}
		file, err := sigma.ParseAll(name, data, opts)
		if err != nil {
			var se *sigma.Error
			if errors.As(err, &se) {
				return nil, err // already names the file, line and construct
			}
			return nil, fmt.Errorf("rule file %s: %w", name, err)
		}
		rs = append(rs, file...)
	}
	return rs, nil
}

// testsDir is the name of the directories that hold rule tests.
const testsDir = "tests"

// IsTestPath reports whether the slash-separated path p names a rule-test
// file rather than a rule: a .yml or .yaml file inside a directory named
// "tests" at any depth, or a file named *_test.yml or *_test.yaml. Event
// files that tests refer to (.json) are neither rules nor tests.
func IsTestPath(p string) bool {
	p = filepath.ToSlash(p)
	base := path.Base(p)
	ext := path.Ext(base)
	if ext != ".yml" && ext != ".yaml" {
		return false
	}
	if strings.HasSuffix(strings.TrimSuffix(base, ext), "_test") {
		return true
	}
	for dir := path.Dir(p); dir != "." && dir != "/" && dir != ""; dir = path.Dir(dir) {
		if path.Base(dir) == testsDir {
			return true
		}
	}
	return false
}

func isRuleFile(name string) bool {
	return strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".yaml")
}
