package publishing_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/workers/publishing"
)

// perlMARCToXML reads ISO 2709 (UTF-8) with MARC::Record and writes MARCXML.
const perlMARCToXML = `
use strict; use warnings;
use MARC::File::USMARC;
use MARC::File::XML (BinaryEncoding => "UTF-8", RecordFormat => "USMARC");
binmode STDOUT, ":utf8";
open(my $fh, "<:raw", $ARGV[0]) or die "$ARGV[0]: $!";
local $/ = "\x1D";
print MARC::File::XML::header();
while (my $raw = <$fh>) {
	my $r = MARC::File::USMARC->decode($raw) or die "undecodable record";
	print MARC::File::XML::record($r);
}
print MARC::File::XML::footer();
`

// perlXMLToMARC reads MARCXML with MARC::File::XML and writes ISO 2709.
const perlXMLToMARC = `
use strict; use warnings;
use Encode ();
use MARC::File::XML (BinaryEncoding => "UTF-8", RecordFormat => "USMARC");
binmode STDOUT, ":raw";
my $f = MARC::File::XML->in($ARGV[0]) or die "cannot open $ARGV[0]";
while (my $r = $f->next) {
	my $m = $r->as_usmarc;
	$m = Encode::encode("UTF-8", $m) if utf8::is_utf8($m);
	print $m;
}
`

// canon is what a record says, for comparison: leader/05-09 and 17-19, then
// every field (tag, indicators, subfield codes and values).
func canon(r *marc.Record) string {
	var b strings.Builder
	b.Write(r.Leader[5:10])
	b.Write(r.Leader[17:20])
	for _, f := range r.Fields {
		b.WriteString("\n" + f.Tag + " ")
		if f.IsControl() {
			b.WriteString(f.Value)
			continue
		}
		b.WriteByte(f.Ind1)
		b.WriteByte(f.Ind2)
		for _, sf := range f.Subfields {
			b.WriteString(" $" + string(sf.Code) + sf.Value)
		}
	}
	return b.String()
}

func oracle(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s: %s", name, stderr.String())
	return out
}

func readAll(t *testing.T, data []byte, xml bool) []string {
	t.Helper()
	var out []string
	if xml {
		xr := marc.NewXMLReader(bytes.NewReader(data), nil)
		for {
			rec, err := xr.Read()
			if errors.Is(err, io.EOF) {
				return out
			}
			require.NoError(t, err)
			out = append(out, canon(rec))
		}
	}
	br, err := marc.NewBinaryReader(bytes.NewReader(data), nil)
	require.NoError(t, err)
	for {
		rec, err := br.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, canon(rec))
	}
}

// TestExportReadsBackWithYazAndPerl: the shared test data, imported through
// Metadata Import, exported as MARC 21 and as gzipped MARCXML, reads back
// with yaz-marcdump and with Perl's MARC::Record to the records in the
// catalog, field for field.
func TestExportReadsBackWithYazAndPerl(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("yaz-marcdump"); err != nil {
		t.Skip("yaz-marcdump not installed (apt-get install yaz)")
	}
	if exec.Command("perl", "-MMARC::Record", "-MMARC::File::XML", "-e1").Run() != nil {
		t.Skip("Perl MARC::Record / MARC::File::XML not installed (apt-get install libmarc-record-perl libmarc-xml-perl)")
	}
	f := newFixture(t, 400, nil)
	ctx := context.Background()
	for _, name := range []string{"jazz_1k.mrc", "concerto_bibs.xml", "lul_fre_100.mrc"} {
		f.importFile(name)
	}
	rows, err := f.db.Pool.Query(ctx, `SELECT id::text, marc FROM records WHERE institution = $1 AND record_type = 'bib' AND NOT deleted ORDER BY id`, institution)
	require.NoError(t, err)
	type rec struct {
		id  string
		raw []byte
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rec, error) {
		var x rec
		return x, r.Scan(&x.id, &x.raw)
	})
	require.NoError(t, err)
	var ids, want []string
	for _, r := range recs {
		m, err := marc.Unmarshal(r.raw)
		require.NoError(t, err)
		ids, want = append(ids, r.id), append(want, canon(m))
	}
	require.Greater(t, len(want), 1000)
	setID := f.itemizedSet("everything", ids)

	for _, tc := range []struct{ format, gzip string }{{"marc21", "false"}, {"marcxml", "true"}} {
		t.Run(tc.format, func(t *testing.T) {
			j := f.submit(publishing.ExportTypeID, map[string]string{"set": itoa(setID), "format": tc.format, "gzip": tc.gzip})
			j = f.runToEnd(j.ID)
			require.Equal(t, jobs.CompletedSuccess, j.Status, j.Message)
			require.Equal(t, int64(len(want)), j.Counters[publishing.Published])
			var yaz, perl, bindery []string
			files := f.jobFiles(j.ID)
			require.Len(t, files, 4, "%d records in files of 400, and the manifest", len(want))
			for _, fl := range files {
				if fl.Kind == "manifest" {
					continue
				}
				path := filepath.Join(f.files, fl.Name)
				if tc.gzip == "true" {
					require.True(t, strings.HasSuffix(fl.Name, ".xml.gz"), fl.Name)
					path = gunzip(t, path)
				}
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				if tc.format == "marc21" {
					bindery = append(bindery, readAll(t, data, false)...)
					yaz = append(yaz, readAll(t, oracle(t, "yaz-marcdump", "-i", "marc", "-o", "marcxml", "-f", "utf8", "-t", "utf8", path), true)...)
					perl = append(perl, readAll(t, oracle(t, "perl", "-e", perlMARCToXML, path), true)...)
				} else {
					bindery = append(bindery, readAll(t, data, true)...)
					yaz = append(yaz, readAll(t, oracle(t, "yaz-marcdump", "-i", "marcxml", "-o", "marc", path), false)...)
					perl = append(perl, readAll(t, oracle(t, "perl", "-e", perlXMLToMARC, path), false)...)
				}
			}
			require.Equal(t, want, bindery, "Bindery's readers")
			require.Equal(t, want, yaz, "yaz-marcdump")
			require.Equal(t, want, perl, "MARC::Record")
		})
	}
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	in, err := os.Open(path)
	require.NoError(t, err)
	defer in.Close()
	gz, err := gzip.NewReader(in)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(path), ".gz"))
	o, err := os.Create(out)
	require.NoError(t, err)
	_, err = io.Copy(o, gz)
	require.NoError(t, err)
	require.NoError(t, o.Close())
	return out
}
