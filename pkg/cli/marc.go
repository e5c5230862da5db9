package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bindery/bindery/pkg/marc"
)

// newMarcCmd is the MARC toolbox: dump, convert, validate, count. It needs no
// database or Redis.
func newMarcCmd(env *Env) *cobra.Command {
	var ro marcReadFlags
	cmd := &cobra.Command{
		Use:   "marc",
		Short: "MARC file toolbox (dump, convert, validate, count)",
		Long: `Read, convert and check MARC 21 files, binary (ISO 2709) or MARCXML.

The input format is detected from the content: a file whose first non-blank
byte is '<' is MARCXML, anything else binary. FILE "-" is standard input.

The readers are lenient: a damaged record is recovered when it can be (its
fields found from their terminators, missing indicators set to blank, and so
on), with a warning; a record that cannot be recovered at all is reported with
its position and the reader goes on with the next one.`,
	}
	cmd.PersistentFlags().StringVar(&ro.encoding, "encoding", "auto",
		"character encoding of binary input: auto (per record, from leader/09 and the bytes), utf8 or marc8; MARCXML is always Unicode")
	cmd.PersistentFlags().BoolVar(&ro.strict, "strict", false,
		"treat encoding problems (invalid bytes, a leader/09 that contradicts them) as errors that reject the record")
	cmd.AddCommand(newMarcDumpCmd(env, &ro), newMarcConvertCmd(env, &ro), newMarcValidateCmd(env, &ro), newMarcCountCmd(env, &ro))
	return cmd
}

// marcReadFlags are the reading options every subcommand takes.
type marcReadFlags struct {
	encoding string
	strict   bool
}

// marcRecordReader is what the binary and MARCXML readers have in common.
type marcRecordReader interface {
	Read() (*marc.Record, error)
}

// marcInput is an open input file.
type marcInput struct {
	r      marcRecordReader
	format string // "marc21" or "marcxml"
	close  func() error
}

// openMarcInput opens name ("-" for stdin), detects its format and returns a
// reader of its records.
func openMarcInput(env *Env, name string, ro *marcReadFlags) (*marcInput, error) {
	enc, err := marc.ParseEncoding(ro.encoding)
	if err != nil {
		return nil, fmt.Errorf("--encoding: %w", err)
	}
	var src io.Reader
	closeFn := func() error { return nil }
	if name == "-" {
		src = env.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		src, closeFn = f, f.Close
	}
	br := bufio.NewReaderSize(src, 64<<10)
	in := &marcInput{close: closeFn}
	isXML, err := looksLikeXML(br)
	if err != nil {
		_ = closeFn()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if isXML {
		in.format = "marcxml"
		in.r = marc.NewXMLReader(br, &marc.XMLReaderOptions{Strict: ro.strict})
		return in, nil
	}
	in.format = "marc21"
	r, err := marc.NewBinaryReader(br, &marc.BinaryReaderOptions{Encoding: enc, Strict: ro.strict})
	if err != nil {
		_ = closeFn()
		return nil, err
	}
	in.r = r
	return in, nil
}

// looksLikeXML reports whether the first byte that is not white space (after a
// UTF-8 byte order mark) is '<'.
func looksLikeXML(br *bufio.Reader) (bool, error) {
	for n := 512; ; n *= 2 {
		b, err := br.Peek(n)
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		if i := bytes.IndexFunc(b, func(r rune) bool { return !strings.ContainsRune(" \t\r\n", r) }); i >= 0 {
			return b[i] == '<', nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull) {
				return false, nil // empty, or blank for 64 KiB: not XML
			}
			return false, err
		}
	}
}

// marcEach reads every record of in, calling rec for each readable one and bad
// for each that cannot be read. It stops at the end of the input, at an error
// from the input itself, or when a callback returns an error.
func marcEach(in *marcInput, rec func(*marc.Record) error, bad func(*marc.Error) error) error {
	for {
		r, err := in.r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var me *marc.Error
		switch {
		case errors.As(err, &me):
			if err := bad(me); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if err := rec(r); err != nil {
				return err
			}
		}
	}
}

func newMarcDumpCmd(env *Env, ro *marcReadFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "dump FILE",
		Short: "Print records in yaz-marcdump's line format",
		Long: `Print every record as text, one line per field, in yaz-marcdump's line format:
the leader, then "001 value" for control fields and "245 10 $a Title $c Author"
for data fields (tag, the two indicators, then each subfield as $code value),
and a blank line after each record. Text is UTF-8 (MARC-8 records are
converted). Warnings and unreadable records go to standard error.`,
		Example: `  bindery marc dump records.mrc
  bindery marc dump --encoding marc8 old-catalog.mrc | less
  curl -s https://example.org/oai.xml | bindery marc dump -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := openMarcInput(env, args[0], ro)
			if err != nil {
				return err
			}
			defer in.close()
			out := bufio.NewWriterSize(env.Stdout, 64<<10)
			var line []byte
			err = marcEach(in, func(rec *marc.Record) error {
				for _, w := range rec.Warnings {
					fmt.Fprintf(env.Stderr, "warning: %v\n", w)
				}
				line = appendDump(line[:0], rec)
				_, err := out.Write(line)
				return err
			}, func(e *marc.Error) error {
				fmt.Fprintf(env.Stderr, "unreadable: %v\n", e)
				return nil
			})
			if ferr := out.Flush(); err == nil {
				err = ferr
			}
			return err
		},
	}
}

// appendDump appends rec in yaz-marcdump's line format.
func appendDump(dst []byte, rec *marc.Record) []byte {
	dst = append(dst, rec.Leader[:]...)
	dst = append(dst, '\n')
	for i := range rec.Fields {
		f := &rec.Fields[i]
		dst = append(dst, f.Tag...)
		if f.IsControl() || (len(f.Subfields) == 0 && f.Value != "") {
			dst = append(dst, ' ')
			dst = append(dst, f.Value...)
			dst = append(dst, '\n')
			continue
		}
		dst = append(dst, ' ', blankIfUnset(f.Ind1), blankIfUnset(f.Ind2))
		for _, s := range f.Subfields {
			dst = append(dst, " $"...)
			dst = append(dst, s.Code, ' ')
			dst = append(dst, s.Value...)
		}
		dst = append(dst, '\n')
	}
	return append(dst, '\n')
}

func blankIfUnset(c byte) byte {
	if c == 0 {
		return ' '
	}
	return c
}

// marcWriter is what the binary and MARCXML writers have in common.
type marcWriter interface {
	Write(*marc.Record) error
}

func newMarcConvertCmd(env *Env, ro *marcReadFlags) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "convert --to marcxml|marc21 IN [OUT]",
		Short: "Convert between binary MARC 21 and MARCXML",
		Long: `Convert IN to the format given by --to and write it to OUT (default: standard
output; "-" is standard output too). IN's format is detected from its content,
so converting to the same format is allowed: it repairs what can be repaired
and turns MARC-8 into UTF-8.

  --to marcxml   a MARC 21 slim collection in UTF-8 (leader/09 'a')
  --to marc21    ISO 2709 in UTF-8 (leader/09 'a'), lengths and directory recomputed

Warnings go to standard error. A record that cannot be read, or that the output
format cannot hold (for example a tag that is not 3 characters, in ISO 2709), is
reported on standard error and left out; the exit status is then 1.`,
		Example: `  bindery marc convert --to marcxml records.mrc records.xml
  bindery marc convert --to marc21 --encoding marc8 old.mrc utf8.mrc
  bindery marc convert --to marc21 - < records.xml > records.mrc`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := parseMarcFormat(to)
			if err != nil {
				return err
			}
			in, err := openMarcInput(env, args[0], ro)
			if err != nil {
				return err
			}
			defer in.close()

			var dst io.Writer = env.Stdout
			var outFile *os.File
			if len(args) == 2 && args[1] != "-" {
				outFile, err = os.Create(args[1])
				if err != nil {
					return err
				}
				defer outFile.Close()
				dst = outFile
			}
			// The XML writer buffers; the binary one writes each record.
			var w marcWriter
			var flush func() error
			if format == "marcxml" {
				xw := marc.NewXMLWriter(dst)
				w, flush = xw, xw.Close
			} else {
				bw := bufio.NewWriterSize(dst, 64<<10)
				w, flush = marc.NewBinaryWriter(bw, nil), bw.Flush
			}

			var read, unreadable, refused int
			err = marcEach(in, func(rec *marc.Record) error {
				read++
				for _, w := range rec.Warnings {
					fmt.Fprintf(env.Stderr, "warning: %v\n", w)
				}
				if err := w.Write(rec); err != nil {
					var me *marc.Error
					if !errors.As(err, &me) {
						return err // the output failed
					}
					refused++
					fmt.Fprintf(env.Stderr, "not converted: %v\n", err)
				}
				return nil
			}, func(e *marc.Error) error {
				unreadable++
				fmt.Fprintf(env.Stderr, "unreadable: %v\n", e)
				return nil
			})
			if ferr := flush(); err == nil {
				err = ferr
			}
			if outFile != nil {
				if cerr := outFile.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return err
			}
			if lost := unreadable + refused; lost > 0 {
				return &ExitError{Code: 1, Msg: fmt.Sprintf("convert: %d of %d records left out (%d unreadable, %d not convertible; see above)",
					lost, read+unreadable, unreadable, refused)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "output format: marcxml or marc21 (required)")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// parseMarcFormat accepts the output format names and a few aliases.
func parseMarcFormat(s string) (string, error) {
	switch strings.ToLower(s) {
	case "marcxml", "xml":
		return "marcxml", nil
	case "marc21", "marc", "iso2709", "mrc":
		return "marc21", nil
	}
	return "", fmt.Errorf("--to: unknown format %q (want marcxml or marc21)", s)
}

func newMarcValidateCmd(env *Env, ro *marcReadFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Report every damaged record and every warning; exit 1 if a record is unreadable",
		Long: `Read every record of FILE and print, for each record that cannot be read, its
position (ordinal and byte offset), its 001 when known and the reason, and for
each record that was recovered, each warning with the field concerned. A
summary line follows. The exit status is 1 if any record could not be read,
0 otherwise (warnings alone do not fail validation; --strict makes encoding
problems errors).`,
		Example: `  bindery marc validate records.mrc
  bindery marc validate --strict --encoding utf8 export.mrc || echo "export is damaged"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := openMarcInput(env, args[0], ro)
			if err != nil {
				return err
			}
			defer in.close()
			out := bufio.NewWriter(env.Stdout)
			var good, warned, warnings, bad int
			err = marcEach(in, func(rec *marc.Record) error {
				if len(rec.Warnings) == 0 {
					good++
					return nil
				}
				warned++
				for _, w := range rec.Warnings {
					warnings++
					fmt.Fprintf(out, "warning: %v\n", w)
				}
				return nil
			}, func(e *marc.Error) error {
				bad++
				fmt.Fprintf(out, "bad: %v\n", e)
				return nil
			})
			if err != nil {
				_ = out.Flush()
				return err
			}
			fmt.Fprintf(out, "%s (%s): %d records: %d good, %d recovered with %d warnings, %d unreadable\n",
				args[0], in.format, good+warned+bad, good, warned, warnings, bad)
			if err := out.Flush(); err != nil {
				return err
			}
			if bad > 0 {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
}

func newMarcCountCmd(env *Env, ro *marcReadFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "count FILE",
		Short: "Count the records in a file, and the unreadable ones",
		Long: `Print how many records FILE holds that can be read (recovered ones included)
and how many cannot be read at all, as "N records, B unreadable".`,
		Example: `  bindery marc count records.mrc
  bindery marc count - < records.xml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := openMarcInput(env, args[0], ro)
			if err != nil {
				return err
			}
			defer in.close()
			var n, bad int
			err = marcEach(in, func(*marc.Record) error { n++; return nil }, func(*marc.Error) error { bad++; return nil })
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(env.Stdout, "%d records, %d unreadable\n", n, bad)
			return err
		},
	}
}
