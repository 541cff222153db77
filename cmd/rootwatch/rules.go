package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/detector/rules"
	"github.com/rootwatch/rootwatch/detector/ruletest"
	"github.com/rootwatch/rootwatch/detector/sigma"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/notify/route"
)

func newRulesCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "rules",
		Short: "List and test Sigma rules",
		Example: `  rootwatch rules list
  rootwatch rules test ./my-rules`,
	}
	c.AddCommand(newRulesListCmd(e), newRulesTestCmd(e))
	return c
}

func newRulesListCmd(e *env) *cobra.Command {
	var dirs, protect []string
	var noBuiltin bool
	var routes string
	c := &cobra.Command{
		Use:   "list",
		Short: "List the rules that would run: name, level, title, file, notes",
		Long: `List the rules rootwatch would run, after loading and compiling them (a rule
that fails to load is reported with its file and line, exit status 2).
Built-in rules show as builtin/<file>; their YAML is in detector/rules/builtin.
The pipeline alerts (rootwatch's own conditions, such as a queue it cannot
read) follow, marked "(pipeline alert)": routes can name them like rules.

NOTES shows a rule's escalation (rootwatch escalate) and, loudly, placeholders
that ROOTWATCH_PROTECT does not define.

With a routes file (ROOTWATCH_ROUTES), its exclusions of known-good automation
follow: the rules, what they match, the reason, the expiry and whether they
are active (expired ones are ignored).`,
		Example: `  rootwatch rules list
  rootwatch rules list --rules ./my-rules`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, rs, err := loadEngine(dirs, noBuiltin, detector.LevelInformational, protect)
			if err != nil {
				return usageErr("%v", err)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tLEVEL\tTITLE\tFILE\tNOTES")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Level, r.Title, r.File, ruleNote(r))
			}
			names := make([]string, 0, len(rs))
			for _, r := range rs {
				names = append(names, r.Name)
			}
			for _, p := range ingest.PipelineRules() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Level, p.Title, "(pipeline alert)")
				names = append(names, p.Name)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if routes == "" {
				return nil
			}
			return listExclusions(e, routes, names)
		},
	}
	c.Flags().StringSliceVar(&dirs, "rules", nil, settingUsage("rules"))
	c.Flags().BoolVar(&noBuiltin, "no-builtin", false, settingUsage("no-builtin"))
	c.Flags().StringSliceVar(&protect, "protect", nil, settingUsage("protect"))
	c.Flags().StringVar(&routes, "routes", "", settingUsage("routes"))
	return c
}

// listExclusions prints the routes file's exclusions of known-good
// automation.
func listExclusions(e *env, path string, rules []string) error {
	rc, err := route.Load(path)
	if err != nil {
		return usageErr("ROOTWATCH_ROUTES: %v", err)
	}
	xs, err := rc.Exclusions(rules)
	if err != nil {
		return usageErr("ROOTWATCH_ROUTES: %v", err)
	}
	fmt.Fprintf(e.stdout, "\nEXCLUSIONS of known-good automation (%s): not delivered, logged and counted\n", path)
	if len(xs) == 0 {
		fmt.Fprintln(e.stdout, "none")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULES\tMATCHES\tREASON\tEXPIRES\tSTATE\tWHERE")
	now := time.Now()
	for _, x := range xs {
		expires, state := "never", "active"
		if !x.Expires.IsZero() {
			expires = x.Expires.UTC().Format(time.RFC3339)
		}
		if x.ExpiredAt(now) {
			state = "EXPIRED (ignored)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", strings.Join(x.Rules, ","), x.Describe(), x.Reason, expires, state, x.Where())
	}
	return tw.Flush()
}

// ruleNote describes what a rule's level and reach depend on: its
// escalation, and placeholders without a value (which run and scan also
// log as warnings). Empty for an ordinary rule.
func ruleNote(r *sigma.Rule) string {
	var notes []string
	if r.Escalation != nil {
		notes = append(notes, fmt.Sprintf("%s when %s", r.Escalation.Level, r.Escalation.ConditionText))
	}
	if len(r.Unresolved) > 0 {
		names := "%" + strings.Join(r.Unresolved, "%, %") + "%"
		if r.Unscoped {
			notes = append(notes, fmt.Sprintf("UNSCOPED: ROOTWATCH_PROTECT defines none of %s, so it fires for any resource, at level %s instead of %s", names, r.Level, r.DeclaredLevel))
		} else {
			notes = append(notes, fmt.Sprintf("not watched: %s (not in ROOTWATCH_PROTECT)", names))
		}
	}
	return strings.Join(notes, "; ")
}

func newRulesTestCmd(e *env) *cobra.Command {
	var withBuiltin bool
	c := &cobra.Command{
		Use:   "test DIR",
		Short: "Run the rule test cases found under DIR against the rules in DIR",
		Long: `Run detection-as-code tests: every test file under DIR (see the README,
"Rule tests") lists CloudTrail events and the exact set of rule names
expected to fire for each. The rules under DIR are compiled with the real
engine (plus the built-in rules with --builtin) and every case is run.

Exit status: 0 when every case passes, 1 when any fails, 2 when a rule or
test file cannot be loaded or DIR has no test cases.`,
		Example: `  rootwatch rules test detector/rules/builtin
  rootwatch rules test --builtin ./my-rules`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			// The rules are loaded once per placeholder set that test files
			// give (see "placeholders:" in the README, "Rule tests").
			load := func(ph map[string][]string) (*engine.Engine, error) {
				opts := sigma.Options{Placeholders: ph}
				var rs []*sigma.Rule
				if withBuiltin {
					b, err := rules.BuiltinWithOptions(opts)
					if err != nil {
						return nil, fmt.Errorf("built-in rules: %w", err)
					}
					rs = append(rs, b...)
				}
				own, err := rules.LoadDirWithOptions(dir, opts)
				if err != nil {
					return nil, err
				}
				rs = append(rs, own...)
				if len(rs) == 0 {
					return nil, fmt.Errorf("%s: no rules found", dir)
				}
				return engine.New(rs)
			}
			cases, err := ruletest.LoadDir(dir)
			if err != nil {
				return usageErr("%v", err)
			}
			if len(cases) == 0 {
				return usageErr("%s: no test cases found", dir)
			}
			rep, err := ruletest.RunLoading(load, cases)
			if err != nil {
				return usageErr("%v", err)
			}
			fmt.Fprint(e.stdout, rep.String())
			if rep.Failed > 0 {
				return &exitError{code: exitPartial, err: fmt.Errorf("%d of %d rule test case(s) failed", rep.Failed, rep.Failed+rep.Passed)}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&withBuiltin, "builtin", false, "also load the built-in rules (for tests expecting them to fire too)")
	return c
}
