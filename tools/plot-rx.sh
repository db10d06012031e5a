#!/bin/sh
# plot-rx.sh: draws the CSV that "jumbo rx --csv FILE" writes as a PNG with
# gnuplot: throughput (Gbit/s and frames/s), pool pages in use, and drops,
# against the time since the first frame.  Installed as jumbo-plot-rx.
#
#   plot-rx.sh FILE.csv [OUT.png]      (default OUT: FILE.png)
#
# The CSV: one line per interval, counts cumulative, rates per interval:
#   time_s,frames,bytes,gbps,frames_per_s,kernel_drops,nobuf_drops,truncated,pool_in_use
set -eu
header='time_s,frames,bytes,gbps,frames_per_s,kernel_drops,nobuf_drops,truncated,pool_in_use'
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	echo "usage: ${0##*/} FILE.csv [OUT.png]" >&2
	exit 2
fi
csv=$1
png=${2:-${csv%.csv}.png}
[ "$png" != "$csv" ] || png=$csv.png
[ -r "$csv" ] || { echo "${0##*/}: cannot read $csv" >&2; exit 1; }
first=$(head -n 1 "$csv" | tr -d '\r')
if [ "$first" != "$header" ]; then
	echo "${0##*/}: $csv: first line is not the header of jumbo rx --csv:" >&2
	echo "  want: $header" >&2
	echo "  have: $first" >&2
	exit 1
fi
if [ "$(wc -l <"$csv")" -lt 2 ]; then
	echo "${0##*/}: $csv: no intervals after the header" >&2
	exit 1
fi
command -v gnuplot >/dev/null 2>&1 || {
	echo "${0##*/}: gnuplot is not installed (apt-get install gnuplot-nox)" >&2
	exit 1
}
# gnuplot quotes: a single quote in a name is written twice.
q() { printf "%s" "$1" | sed "s/'/''/g"; }
gnuplot <<EOF2
set terminal pngcairo size 1000,900 noenhanced
set output '$(q "$png")'
set datafile separator ','
# The same margins for the three panels, so that their time axes line up.
set lmargin 12
set rmargin 12
set key above
set grid
set xrange [0:*]
set yrange [0:*]
set xlabel 'time since the first frame (s)'
set multiplot layout 3,1 title 'jumbo rx: $(q "${csv##*/}")'
set ylabel 'Gbit/s'
set y2label 'frames/s'
set ytics nomirror
set y2tics
set y2range [0:*]
plot '$(q "$csv")' using 'time_s':'gbps' with lines lw 2 title 'Gbit/s', \
     '' using 'time_s':'frames_per_s' axes x1y2 with lines lw 2 title 'frames/s'
unset y2label
unset y2tics
set ytics mirror
set ylabel 'pages'
plot '$(q "$csv")' using 'time_s':'pool_in_use' with lines lw 2 title 'pool pages in use'
set ylabel 'frames (cumulative)'
plot '$(q "$csv")' using 'time_s':'kernel_drops' with lines lw 2 title 'dropped by the kernel', \
     '' using 'time_s':'nobuf_drops' with lines lw 2 title 'dropped: no pool page', \
     '' using 'time_s':'truncated' with lines lw 2 title 'truncated'
unset multiplot
EOF2
echo "$png"
