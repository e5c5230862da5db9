package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bindery/bindery/pkg/client"
	"github.com/bindery/bindery/pkg/sets"
)

func newSetCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Create, list, show and delete sets of records, items or users that jobs run on",
		Long: `A set is what a manual job runs on (submit it with --param set=ID).

Itemized sets are uploaded id files: a header line naming the id kind, then
one id per line. The header decides the content type:
  MMS ID    catalog records (bib; --content-type authority for authorities)
  Barcode   physical items
  User ID   users (by primary id)
  PO Line   refused: Bindery holds no purchase order data yet
Ids that are not found, deleted, of another content type, malformed or
repeated are not members: they are reported with their line numbers.

Logical sets are a saved query over the institution's catalog, run again
each time a job starts on the set, so the job sees the catalog as it is
then (see docs/sets.md for the query language):
  650 $a contains "Jazz" AND NOT suppressed
  (isbn = 9780316066259 OR 035 = "(OCoLC)12345") AND created >= 2024-01-01

Set commands are clients of a running "bindery server" (--server or
BINDERY_SERVER, --token or BINDERY_TOKEN); sets belong to the token's
institution.`,
	}
	cmd.AddCommand(newSetCreateCmd(env), newSetListCmd(env), newSetShowCmd(env), newSetDeleteCmd(env), newSetMembersCmd(env))
	return cmd
}

func parseSetID(s string) (int64, error) { return parseID("set", s) }

// shownProblems is how many problems the table output lists.
const shownProblems = 20

func printSet(w io.Writer, s *sets.Set) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Set:\t%d %q\n", s.ID, s.Name)
	fmt.Fprintf(tw, "Institution:\t%s\n", s.Institution)
	fmt.Fprintf(tw, "Kind:\t%s\n", s.Kind)
	fmt.Fprintf(tw, "Content:\t%s (%s)\n", s.ContentType, sets.ContentNoun(s.ContentType))
	if s.IDKind != "" {
		fmt.Fprintf(tw, "Ids:\t%s\n", s.IDKind)
	}
	if s.Query != "" {
		fmt.Fprintf(tw, "Query:\t%s\n", s.Query)
		fmt.Fprintf(tw, "Dates in:\t%s\n", s.TimeZone)
	}
	if s.Description != "" {
		fmt.Fprintf(tw, "Description:\t%s\n", s.Description)
	}
	fmt.Fprintf(tw, "Created:\t%s by %s\n", s.CreatedAt.Local().Format("2006-01-02 15:04:05"), s.CreatedBy)
	switch {
	case s.Members != nil && s.Kind == sets.Logical:
		fmt.Fprintf(tw, "Members:\t%d (the query run now)\n", *s.Members)
	case s.Members != nil:
		fmt.Fprintf(tw, "Members:\t%d\n", *s.Members)
	}
	if s.Kind == sets.Itemized {
		fmt.Fprintf(tw, "Problems:\t%d\n", s.ProblemCount)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Problems) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nIds that are not members:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LINE\tVALUE\tPROBLEM")
	for i, p := range s.Problems {
		if i == shownProblems {
			break
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", p.Line, p.Value, p.Problem)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.ProblemCount > shownProblems {
		fmt.Fprintf(w, "... and %d more (all of them: bindery set show %d --output json)\n", s.ProblemCount-shownProblems, s.ID)
	}
	return nil
}

func newSetCreateCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	var n sets.NewSet
	var file string
	cmd := &cobra.Command{
		Use:   "create --name NAME (--file IDS | --query QUERY)",
		Short: "Create an itemized set from an id file, or a logical set from a query",
		Long: `Creates a set for the token's institution and prints it. An itemized set
(--file) prints the ids that did not become members, with their line
numbers; the set is created with the others. A logical set (--query) is
refused if its query cannot be parsed, naming the position of the problem;
else it is run once to show how many records it selects now.`,
		Example: `  printf 'MMS ID\n990000000001\n990000000002\n' > ids.txt
  bindery set create --name "Weeding 2026" --file ids.txt
  bindery set create --name "Shelf 3" --file barcodes.txt      # header: Barcode
  bindery set members 7 --output ids | bindery set create --name "Copy" --file -
  bindery set create --name Jazz --query '650 $a contains "Jazz" AND NOT suppressed'
  bindery set create --name "New this year" --query 'created >= 2026-01-01' --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := r.checkOutput("table", "json"); err != nil {
				return err
			}
			if (file == "") == (n.Query == "") {
				return fmt.Errorf("give exactly one of --file (an itemized set) and --query (a logical set)")
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			var s *sets.Set
			if n.Query != "" {
				s, err = c.CreateLogicalSet(cmd.Context(), n)
			} else {
				in := env.Stdin
				if file != "-" {
					f, err := os.Open(file)
					if err != nil {
						return err
					}
					defer f.Close()
					in = f
				}
				s, err = c.UploadSet(cmd.Context(), n, in)
			}
			if err != nil {
				return err
			}
			if r.output == "json" {
				return writeJSONOut(env.Stdout, s)
			}
			return printSet(env.Stdout, s)
		},
	}
	r.flags(cmd, "table", "json")
	cmd.Flags().StringVar(&n.Name, "name", "", "the set's name (unique in the institution)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "id file: a header line (MMS ID, Barcode, User ID), then one id per line; - for standard input")
	cmd.Flags().StringVarP(&n.Query, "query", "q", "", "the query of a logical set (docs/sets.md)")
	cmd.Flags().StringVar(&n.ContentType, "content-type", "", "bib (default) or authority, for MMS ID files and queries")
	cmd.Flags().StringVar(&n.Description, "description", "", "what the set is for")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newSetListCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the sets visible to the token",
		Long: `Lists sets by id. MEMBERS is the uploaded count for itemized sets; a logical
set's members exist only when its query runs ("bindery set show ID" counts them).`,
		Example: `  bindery set list
  bindery set list --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd.Context(), r, (*client.Client).Sets, printSetList)
		},
	}
	r.flags(cmd, "table", "json")
	return cmd
}

func printSetList(w io.Writer, list []*sets.Set) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tINSTITUTION\tNAME\tKIND\tCONTENT\tMEMBERS\tPROBLEMS\tQUERY / IDS")
	for _, s := range list {
		members, problems, what := "-", "-", s.IDKind
		if s.Members != nil {
			members = strconv.FormatInt(*s.Members, 10)
		}
		if s.Kind == sets.Itemized {
			problems = strconv.FormatInt(s.ProblemCount, 10)
		} else {
			what = s.Query
			if len([]rune(what)) > 60 {
				what = string([]rune(what)[:57]) + "..."
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Institution, s.Name, s.Kind, s.ContentType, members, problems, what)
	}
	return tw.Flush()
}

func newSetShowCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	var noCount bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a set: what it holds, its member count and the ids that did not become members",
		Long: `Shows a set. For a logical set the query is run to count its members now
(--no-count skips that). For an itemized set it lists the uploaded ids that
did not become members, with their line numbers and why (the first 1000 in
--output json).`,
		Example: `  bindery set show 7
  bindery set show 7 --output json | jq '.problems[] | select(.problem == "not found") | .value'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseSetID(args[0])
			if err != nil {
				return err
			}
			return show(cmd.Context(), r, func(c *client.Client, ctx context.Context) (*sets.Set, error) {
				return c.Set(ctx, id, !noCount)
			}, printSet)
		},
	}
	r.flags(cmd, "table", "json")
	cmd.Flags().BoolVar(&noCount, "no-count", false, "do not run a logical set's query to count its members")
	return cmd
}

func newSetDeleteCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a set (refused while an unfinished job runs on it)",
		Long: `Deletes a set of the token's institution. While a job submitted on the set
has not ended, the set is kept and the answer names the job.`,
		Example: `  bindery set delete 7`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseSetID(args[0])
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.DeleteSet(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "set %d deleted\n", id)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newSetMembersCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	var offset, limit int64
	cmd := &cobra.Command{
		Use:   "members ID",
		Short: "Print a set's members as they are now (a logical set's query is run)",
		Long: `Streams the set's members, as a job starting now would see them: an itemized
set's ids still in the catalog, in file order; a logical set's query run
now, in id order. --offset and --limit page through them.

Output: table (ORD, ID, KEY, LABEL), json (an array), or ids: a header line
and one key per line, which is an id file "bindery set create --file"
takes back.`,
		Example: `  bindery set members 7 --limit 20
  bindery set members 7 --offset 20 --limit 20
  bindery set members 7 --output ids > ids.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := r.checkOutput("table", "json", "ids"); err != nil {
				return err
			}
			if offset < 0 || limit < 0 {
				return fmt.Errorf("--offset and --limit must not be negative")
			}
			id, err := parseSetID(args[0])
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			return printMembers(env.Stdout, r.output, func(header func() error, each func(sets.Member) error) error {
				if r.output == "ids" {
					s, err := c.Set(cmd.Context(), id, false)
					if err != nil {
						return err
					}
					if _, err := fmt.Fprintln(env.Stdout, idHeader(s)); err != nil {
						return err
					}
				} else if err := header(); err != nil {
					return err
				}
				return c.SetMembers(cmd.Context(), id, offset, limit, each)
			})
		},
	}
	r.flags(cmd, "table", "json", "ids")
	cmd.Flags().Int64Var(&offset, "offset", 0, "skip this many members")
	cmd.Flags().Int64Var(&limit, "limit", 0, "print at most this many members (0: all)")
	return cmd
}

// idHeader is the id file header that names a set's keys.
func idHeader(s *sets.Set) string {
	switch s.ContentType {
	case sets.ContentItem:
		return sets.IDKindBarcode
	case sets.ContentUser:
		return sets.IDKindUserID
	}
	return sets.IDKindMMS
}

// printMembers writes members as they stream in: a table flushed every
// 1000 rows, a JSON array, or bare keys.
func printMembers(w io.Writer, output string, run func(header func() error, each func(sets.Member) error) error) error {
	switch output {
	case "json":
		first := true
		err := run(func() error { _, err := io.WriteString(w, "["); return err }, func(m sets.Member) error {
			sep := ",\n  "
			if first {
				sep, first = "\n  ", false
			}
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			_, err = io.WriteString(w, sep+string(b))
			return err
		})
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, "\n]\n")
		return err
	case "ids":
		return run(nil, func(m sets.Member) error { _, err := fmt.Fprintln(w, m.Key); return err })
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	n := 0
	err := run(func() error { _, err := fmt.Fprintln(tw, "ORD\tID\tKEY\tLABEL"); return err }, func(m sets.Member) error {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", m.Ord, m.ID, m.Key, strings.ReplaceAll(m.Label, "\t", " "))
		if n++; n%1000 == 0 {
			return tw.Flush()
		}
		return nil
	})
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	return err
}
