#!/usr/bin/env bash
# Regenerate the oracle goldens that pkg/marc/oracle_test.go compares Bindery with.
#
# For every file in MANIFEST (read from $BINDERY_MARC_TESTDATA, default
# /work/shared/testdata/marc) two oracles convert it:
#
#   binary (ISO 2709) input -> MARCXML
#     NAME.yaz.xml.gz    yaz-marcdump -i marc -o marcxml -f ENCODING -t utf8
#     NAME.perl.xml.gz   MARC::File::USMARC + MARC::File::XML (MARC-8 through
#                        MARC::Charset; for UTF-8 input leader/09 is set to 'a'
#                        first, see below)
#   MARCXML input -> binary
#     NAME.yaz.mrc.gz    yaz-marcdump -i marcxml -o marc
#     NAME.perl.mrc.gz   MARC::File::XML ->in, MARC::Record->as_usmarc
#
# ENCODING is MANIFEST's encoding column (what the bytes are, not what leader/09
# claims). Outputs are gzipped with -n so that a rerun with the same tools gives
# the same bytes; an oracle that fails or reads nothing leaves an empty golden,
# and its stderr goes to NAME.ORACLE.log when it says anything. VERSIONS records
# the tool versions used.
#
# Needs: yaz-marcdump (Debian yaz), perl with MARC::Record, MARC::File::XML and
# MARC::Charset (libmarc-record-perl, libmarc-xml-perl, libmarc-charset-perl).
set -euo pipefail
cd "$(dirname "$0")"
src=${BINDERY_MARC_TESTDATA:-/work/shared/testdata/marc}

command -v yaz-marcdump >/dev/null || { echo "regen.sh: yaz-marcdump not installed (apt-get install yaz)" >&2; exit 1; }
perl -MMARC::Record -MMARC::File::XML -MMARC::Charset -e1 2>/dev/null ||
	{ echo "regen.sh: perl MARC::Record / MARC::File::XML / MARC::Charset missing (apt-get install libmarc-record-perl libmarc-xml-perl libmarc-charset-perl)" >&2; exit 1; }

# Binary -> MARCXML with MARC::File::XML. $1: marc8 or utf8, $2: input file.
# MARC::File::USMARC decides at decode time, from leader/09, whether the bytes are
# UTF-8, and MARC::File::XML decodes MARC-8 whenever it is blank: for a file whose
# bytes are UTF-8 whatever leader/09 says, leader/09 is set to 'a' before decoding.
# Records are split on the record terminator, as MARC::File::USMARC does.
perl_marc_to_xml='
use strict; use warnings;
use MARC::File::USMARC;
use MARC::File::XML (BinaryEncoding => ($ARGV[0] eq "marc8" ? "MARC-8" : "UTF-8"), RecordFormat => "USMARC");
binmode STDOUT, ":utf8";
open(my $fh, "<:raw", $ARGV[1]) or die "$ARGV[1]: $!";
local $/ = "\x1D";
print MARC::File::XML::header();
while (my $raw = <$fh>) {
	next if $raw =~ /^\s*$/;
	substr($raw, 9, 1) = "a" if $ARGV[0] eq "utf8" && length($raw) > 9;
	my $r = eval { MARC::File::USMARC->decode($raw) };
	if ($@ || !$r) { warn "record skipped: $@"; next }
	print MARC::File::XML::record($r);
}
print MARC::File::XML::footer();
'

# MARCXML -> binary with MARC::File::XML. $1: input file.
perl_xml_to_marc='
use strict; use warnings;
use Encode ();
use MARC::File::XML (BinaryEncoding => "UTF-8", RecordFormat => "USMARC");
binmode STDOUT, ":raw";
my $f = MARC::File::XML->in($ARGV[0]) or die "cannot open $ARGV[0]";
while (1) {
	my $r = eval { $f->next };
	if ($@) { warn "record skipped: $@"; last }
	last unless $r;
	my $m = $r->as_usmarc;
	$m = Encode::encode("UTF-8", $m) if utf8::is_utf8($m);
	print $m;
}
'

# run NAME ORACLE EXT command...: run the command, gzip its stdout to
# NAME.ORACLE.EXT.gz, keep its stderr in NAME.ORACLE.log if there is any.
run() {
	local name=$1 oracle=$2 ext=$3
	shift 3
	local out="$name.$oracle.$ext.gz" log="$name.$oracle.log"
	mkdir -p "$(dirname "$name")"
	if ! "$@" 2>"$log" | gzip -n -9 >"$out"; then
		echo "regen.sh: $oracle exits with an error on $name (kept what it wrote)" >&2
	fi
	[ -s "$log" ] || rm -f "$log"
}

rm -rf evergreen marc4j pymarc
while IFS=$'\t' read -r file format encoding holds status; do
	case $file in '#'* | '') continue ;; esac
	in="$src/$file"
	[ -f "$in" ] || { echo "regen.sh: $in missing" >&2; exit 1; }
	if [ "$format" = marc ]; then
		run "$file" yaz xml yaz-marcdump -i marc -o marcxml -f "$encoding" -t utf8 "$in"
		run "$file" perl xml perl -e "$perl_marc_to_xml" "$encoding" "$in"
	else
		run "$file" yaz mrc yaz-marcdump -i marcxml -o marc "$in"
		run "$file" perl mrc perl -e "$perl_xml_to_marc" "$in"
	fi
	echo "$file ($format, $encoding, $status): done"
done <MANIFEST

{
	echo "yaz $(yaz-marcdump -V 2>&1 | head -1 | awk '{print $3}')"
	perl -MMARC::Record -MMARC::File::XML -MMARC::Charset -e 'printf "MARC::Record %s\nMARC::File::XML %s\nMARC::Charset %s\n", $MARC::Record::VERSION, $MARC::File::XML::VERSION, $MARC::Charset::VERSION'
} >VERSIONS
