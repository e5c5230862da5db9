package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bindery/bindery/pkg/client"
	"github.com/bindery/bindery/pkg/jobs"
)

func newJobFilesCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	cmd := &cobra.Command{
		Use:   "files ID",
		Short: "List the files a job wrote (General Publishing, Export Bibliographic Records)",
		Long: `A publishing or export run's files are listed once the run has completed:
records files, deletes files and the manifest, with their record counts,
sizes and SHA-256. Fetch one with "bindery job download".`,
		Example: "  bindery job files 42",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			return show(cmd.Context(), r, func(c *client.Client, ctx context.Context) ([]jobs.File, error) {
				files, err := c.Files(ctx, id)
				if files == nil {
					files = []jobs.File{} // JSON: [] rather than null
				}
				return files, err
			}, func(w io.Writer, files []jobs.File) error {
				if len(files) == 0 {
					fmt.Fprintf(w, "job %d has no files (yet: a run's files are listed when it completes)\n", id)
					return nil
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tKIND\tRECORDS\tBYTES\tSHA256")
				for _, f := range files {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", f.Name, f.Kind, f.Records, f.Bytes, f.SHA256)
				}
				return tw.Flush()
			})
		},
	}
	r.flags(cmd, "table", "json")
	return cmd
}

func newJobDownloadCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	var out string
	cmd := &cobra.Command{
		Use:   "download ID NAME",
		Short: "Download one file of a job (see `bindery job files`), checking its SHA-256",
		Example: `  bindery job download 42 export_42_00001.mrc
  bindery job download 42 export_42_00001.mrc --out records.mrc
  bindery job download 42 export_42_manifest.json --out -`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, id, err := r.jobClient(args[0])
			if err != nil {
				return err
			}
			name := args[1]
			if out == "" {
				out = filepath.Base(name)
			}
			body, _, want, err := c.Download(cmd.Context(), id, name)
			if err != nil {
				return err
			}
			defer body.Close()
			sum := sha256.New()
			if out == "-" {
				if _, err := io.Copy(io.MultiWriter(env.Stdout, sum), body); err != nil {
					return fmt.Errorf("download %s: %w", name, err)
				}
				return checkSum(name, want, sum.Sum(nil))
			}
			// Written beside the target and renamed once complete and checked:
			// an interrupted download leaves no partial file under the name.
			tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.part")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			n, err := io.Copy(io.MultiWriter(tmp, sum), body)
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("download %s: %w", name, err)
			}
			if err := checkSum(name, want, sum.Sum(nil)); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s: %d bytes, SHA-256 %s\n", out, n, hex.EncodeToString(sum.Sum(nil)))
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().StringVar(&out, "out", "", "where to write the file (default: NAME in the current directory; - for standard output)")
	return cmd
}

func checkSum(name, want string, got []byte) error {
	if want != "" && want != hex.EncodeToString(got) {
		return fmt.Errorf("download %s: SHA-256 %s, but the server recorded %s: the file changed or was damaged on the way", name, hex.EncodeToString(got), want)
	}
	return nil
}
