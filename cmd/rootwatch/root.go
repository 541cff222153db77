package main

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage // cobra's own errors: unknown flag, wrong args
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "rootwatch",
		Short: "Detect use of AWS root users in CloudTrail, and alert",
		Long: `rootwatch finds activity of AWS accounts' root users in CloudTrail logs
(console sign-ins, API calls with root credentials, root access keys, MFA,
password and contact changes, sts:AssumeRoot) with Sigma rules, and alerts.

It runs as a service (rootwatch run: SQS notifications of CloudTrail objects in
S3, alerts to Slack, PagerDuty, Amazon SNS or a webhook) or offline (rootwatch scan: local files).`,
		Example: `  rootwatch scan testdata/sample/AWSLogs
  rootwatch scan --format json AWSLogs/ > detections.jsonl
  rootwatch rules list
  rootwatch run --queue-url https://sqs.us-east-1.amazonaws.com/111122223333/cloudtrail-notifications`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("log-level", "info", settingUsage("log-level"))
	root.PersistentFlags().String("log-format", "auto", settingUsage("log-format"))
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := applyEnv(cmd.Flags(), e.getenv); err != nil {
			return usageErr("%v", err)
		}
		return nil
	}
	root.AddCommand(newScanCmd(e), newRulesCmd(e), newVersionCmd(e), newConfigCmd(e), newRunCmd(e), newNotifyCmd(e), newHealthcheckCmd(e), newBackfillCmd(e), newAuditCmd(e), newExpectCmd(e))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })
	root.SetHelpCommand(&cobra.Command{Hidden: true})
	return root
}

func settingUsage(flag string) string {
	s, ok := settingByFlag(flag)
	if !ok {
		panic("no setting for flag " + flag)
	}
	return s.Usage + " [$" + s.Env + "]"
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print rootwatch's version",
		Example: "  rootwatch version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version
			goVersion := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
				if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
					v = bi.Main.Version
				}
			}
			fmt.Fprintf(e.stdout, "rootwatch %s %s\n", v, goVersion)
			return nil
		},
	}
}

func newConfigCmd(e *env) *cobra.Command {
	var markdown bool
	c := &cobra.Command{
		Use:   "config",
		Short: "Print every setting: environment variable, flag, default and meaning",
		Long: `Print every setting rootwatch reads. Each setting is a flag and an environment
variable with the same meaning; a flag given on the command line wins.`,
		Example: "  rootwatch config\n  rootwatch config --markdown",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if markdown {
				fmt.Fprint(e.stdout, settingsMarkdown())
				return nil
			}
			for _, s := range settings {
				val := e.getenv(s.Env)
				switch {
				case val == "":
					val = "(unset)"
				case s.Secret:
					val = "(set, redacted)"
				}
				fmt.Fprintf(e.stdout, "%-34s --%-24s %s\n", s.Env, s.Flag, val)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&markdown, "markdown", false, "print the table in Markdown (as in the README)")
	return c
}
