package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bindery/bindery/pkg/client"
	"github.com/bindery/bindery/pkg/jobs"
)

// remote are the settings of commands that talk to the server's API.
type remote struct {
	env    *Env
	server string
	token  string
	output string
}

func (r *remote) flags(cmd *cobra.Command, outputs ...string) {
	cmd.Flags().StringVar(&r.server, "server", "", "Bindery server URL (env BINDERY_SERVER; default "+DefaultServer+")")
	cmd.Flags().StringVar(&r.token, "token", "", "API token (env BINDERY_TOKEN; see `bindery token create`)")
	if len(outputs) > 0 {
		cmd.Flags().StringVarP(&r.output, "output", "o", outputs[0], "output format: "+strings.Join(outputs, ", "))
	}
}

func (r *remote) client() (*client.Client, error) {
	server := r.server
	if server == "" {
		server = r.env.Getenv("BINDERY_SERVER")
	}
	if server == "" {
		server = DefaultServer
	}
	token := r.token
	if token == "" {
		token = r.env.Getenv("BINDERY_TOKEN")
	}
	if token == "" {
		return nil, fmt.Errorf("no API token: pass --token or set BINDERY_TOKEN (create one with `bindery token create`)")
	}
	return client.New(server, token), nil
}

func (r *remote) checkOutput(allowed ...string) error {
	for _, a := range allowed {
		if r.output == a {
			return nil
		}
	}
	return fmt.Errorf("unknown --output %q (choose %s)", r.output, strings.Join(allowed, ", "))
}

// parseKV turns repeated name=value flags into a map.
func parseKV(flag string, pairs []string) (map[string]string, error) {
	kv := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: expected name=value", flag, p)
		}
		kv[k] = v
	}
	return kv, nil
}

// jobClient parses a job id argument and returns it with an API client.
func (r *remote) jobClient(arg string) (*client.Client, int64, error) {
	id, err := parseJobID(arg)
	if err != nil {
		return nil, 0, err
	}
	c, err := r.client()
	return c, id, err
}

func parseJobID(s string) (int64, error) { return parseID("job", s) }

// parseID parses the id argument of a what (job, set).
func parseID(what, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%s id %q is not a positive number", what, s)
	}
	return id, nil
}

func newJobCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Run, follow, abort and report on jobs (through the server's API)",
		Long: `Job commands are clients of a running "bindery server". They find it with
--server or BINDERY_SERVER and authenticate with --token or BINDERY_TOKEN.`,
	}
	cmd.AddCommand(newJobRunCmd(env), newJobListCmd(env), newJobShowCmd(env), newJobWatchCmd(env),
		newJobAbortCmd(env), newJobReportCmd(env), newJobRerunCmd(env), newJobRevertCmd(env),
		newJobFilesCmd(env), newJobDownloadCmd(env))
	cmd.AddCommand(newJobPriorityCmd(env))
	return cmd
}

func newJobRunCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	var params []string
	var wait, dryRun bool
	var file string
	cmd := &cobra.Command{
		Use:   "run TYPE [--param k=v]... [--file PATH] [--dry-run] [--wait]",
		Short: "Submit a job and print its id",
		Long: `Submits a job of TYPE for the token's institution and prints the new job's id.
With --wait it follows the job like "job watch" and exits 0 when the job ends
COMPLETED_SUCCESS or COMPLETED_WARNING, 1 otherwise.
A job that takes a file (metadata-import) gets it with --file: the file is
streamed to the server, which stages it with the job in one transaction.`,
		Example: `  bindery job run loan-anonymization --param retention_days=30 --wait
  id=$(bindery job run noop --param records=100000)
  bindery job run metadata-import --param profile=vendor-bibs --file records.mrc --wait`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			kv, err := parseKV("param", params)
			if err != nil {
				return err
			}
			if dryRun {
				kv["dry_run"] = "true"
			}
			var job *jobs.Job
			if file != "" {
				job, err = submitFile(cmd.Context(), c, env.Stdin, args[0], kv, file)
			} else {
				job, err = c.Submit(cmd.Context(), args[0], kv)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, job.ID)
			if job.Status == jobs.Skipped || job.Status == jobs.Pending {
				fmt.Fprintf(env.Stderr, "job %d is %s: %s\n", job.ID, job.Status, job.Message)
			}
			if !wait {
				return nil
			}
			final, err := follow(cmd, c, job.ID, env.Stderr, time.Second/2)
			if err != nil {
				return err
			}
			if !final.Status.Succeeded() {
				return &ExitError{Code: 1, Msg: fmt.Sprintf("job %d ended %s %s", final.ID, final.Status, final.Message)}
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().StringArrayVarP(&params, "param", "p", nil, "job parameter name=value (repeatable)")
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "follow the job until it ends; exit 1 unless it succeeded")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "the same as --param dry_run=true (metadata-import: report what would change, field by field for merges and overlays, and change nothing)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "the job's input file (metadata-import: a MARC 21 or MARCXML file; - for standard input)")
	return cmd
}

func newJobListCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	var o client.ListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs visible to the token, newest first",
		Example: `  bindery job list --status RUNNING
  bindery job list --institution DEMO2 --output json   # network-monitor token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd.Context(), r, func(c *client.Client, ctx context.Context) ([]*jobs.Job, error) {
				return c.List(ctx, o)
			}, printJobList)
		},
	}
	r.flags(cmd, "table", "json")
	cmd.Flags().StringVar(&o.Status, "status", "", "only jobs in this status (e.g. RUNNING, COMPLETED_SUCCESS)")
	cmd.Flags().StringVar(&o.Type, "type", "", "only jobs of this type (e.g. loan-anonymization)")
	cmd.Flags().StringVar(&o.Institution, "institution", "", "only jobs of this institution (network-monitor tokens)")
	cmd.Flags().IntVar(&o.Limit, "limit", 50, "at most this many jobs")
	return cmd
}

func printJobList(w io.Writer, list []*jobs.Job) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tINSTITUTION\tTYPE\tSTATUS\tPROGRESS\tSUBMITTED\tBY")
	for _, j := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Institution, j.Type, j.Status,
			percent(j), j.SubmittedAt.Local().Format("2006-01-02 15:04:05"), j.SubmittedBy)
	}
	return tw.Flush()
}

func percent(j *jobs.Job) string {
	if j.Progress == nil {
		return ""
	}
	return fmt.Sprintf("%.1f%%", j.Progress.Percent)
}

// show is the body of a read command with --output table|json: it checks
// the format, fetches with an API client, and writes JSON or the table.
// fetch takes the client first so a method expression such as
// (*client.Client).Capacity fits it.
func show[T any](ctx context.Context, r *remote, fetch func(*client.Client, context.Context) (T, error), table func(io.Writer, T) error) error {
	if err := r.checkOutput("table", "json"); err != nil {
		return err
	}
	c, err := r.client()
	if err != nil {
		return err
	}
	v, err := fetch(c, ctx)
	if err != nil {
		return err
	}
	if r.output == "json" {
		return writeJSONOut(r.env.Stdout, v)
	}
	return table(r.env.Stdout, v)
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newJobShowCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job: status, progress, counters, alerts and status history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			return show(cmd.Context(), r, func(c *client.Client, ctx context.Context) (*jobs.Job, error) {
				return c.Get(ctx, id)
			}, func(w io.Writer, j *jobs.Job) error { printJob(w, j); return nil })
		},
	}
	r.flags(cmd, "table", "json")
	return cmd
}

func printJob(w io.Writer, j *jobs.Job) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Job\t%d\n", j.ID)
	fmt.Fprintf(tw, "Type\t%s\n", j.Type)
	fmt.Fprintf(tw, "Institution\t%s\n", j.Institution)
	fmt.Fprintf(tw, "Status\t%s\n", j.Status)
	if j.Priority != "" && j.Priority != "normal" {
		fmt.Fprintf(tw, "Priority\t%s (class %s, set by an operator)\n", j.Priority, j.PriorityClass)
	}
	if j.Message != "" {
		fmt.Fprintf(tw, "Message\t%s\n", j.Message)
	}
	if len(j.WaitingFor) > 0 {
		fmt.Fprintf(tw, "Waiting for\t%s\n", strings.Trim(fmt.Sprint(j.WaitingFor), "[]"))
	}
	fmt.Fprintf(tw, "Submitted\t%s by %s\n", j.SubmittedAt.Local().Format(time.RFC3339), j.SubmittedBy)
	if j.StartedAt != nil {
		fmt.Fprintf(tw, "Started\t%s\n", j.StartedAt.Local().Format(time.RFC3339))
	}
	if j.EndedAt != nil {
		fmt.Fprintf(tw, "Ended\t%s\n", j.EndedAt.Local().Format(time.RFC3339))
	}
	if p := j.Progress; p != nil {
		fmt.Fprintf(tw, "Progress\t%.1f%% (%d of %d records; chunks: %d done, %d in flight, %d failed, %d total)\n",
			p.Percent, p.DoneRecords, j.TotalRecords, p.DoneChunks, p.InFlightChunks, p.FailedChunks, j.TotalChunks)
	}
	if len(j.Params) > 0 {
		fmt.Fprintf(tw, "Parameters\t%s\n", sortedKV(j.Params))
	}
	for _, k := range sortedKeys(j.Counters) {
		fmt.Fprintf(tw, "  %s\t%d\n", k, j.Counters[k])
	}
	for _, a := range j.Alerts {
		fmt.Fprintf(tw, "Alert\t%s\n", a)
	}
	if len(j.Events) > 0 {
		fmt.Fprintf(tw, "History\t\n")
		for _, e := range j.Events {
			fmt.Fprintf(tw, "  %s\t%s %s\n", e.At.Local().Format("15:04:05.000"), e.Status, e.Message)
		}
	}
	_ = tw.Flush()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedKV(m map[string]any) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func newJobAbortCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	cmd := &cobra.Command{
		Use:   "abort ID",
		Short: "Abort a job; what it committed stays, and is in its report",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, id, err := r.jobClient(args[0])
			if err != nil {
				return err
			}
			j, err := c.Abort(cmd.Context(), id)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "job %d %s (%d of %d records done)\n", j.ID, j.Status, j.Progress.DoneRecords, j.TotalRecords)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newJobReportCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	cmd := &cobra.Command{
		Use:   "report ID",
		Short: "Print a job's per-record report (record id, outcome, message)",
		Example: `  bindery job report 42
  bindery job report 42 --output csv > report.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := r.checkOutput("table", "csv", "json"); err != nil {
				return err
			}
			c, id, err := r.jobClient(args[0])
			if err != nil {
				return err
			}
			format := r.output
			if format == "table" {
				format = "json"
			}
			body, err := c.Report(cmd.Context(), id, format)
			if err != nil {
				return err
			}
			defer body.Close()
			if r.output != "table" {
				_, err = io.Copy(env.Stdout, body)
				return err
			}
			return printReportTable(env.Stdout, body)
		},
	}
	r.flags(cmd, "table", "csv", "json")
	return cmd
}

// printReportTable renders the JSON report stream as a table, row by row.
func printReportTable(w io.Writer, body io.Reader) error {
	dec := json.NewDecoder(body)
	if _, err := dec.Token(); err != nil { // [
		return fmt.Errorf("report: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tOUTCOME\tMESSAGE")
	n := 0
	for dec.More() {
		var row jobs.ReportRow
		if err := dec.Decode(&row); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", row.RecordID, row.Outcome, row.Message)
		n++
		if n%1000 == 0 {
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	return tw.Flush()
}
