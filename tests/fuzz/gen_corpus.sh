#!/bin/sh
# Writes the fuzzer's seed corpus (tests/fuzz/corpus/): a few inputs aimed
# at each family of calls, so that a short run starts past the shallow
# ones.  Each call is a byte (modulo 24, see LLVMFuzzerTestOneInput) and
# a pool slot (modulo 4; 3 is the default pool), then the call's own
# bytes; the fuzzer mutates them from there.
#   sh tests/fuzz/gen_corpus.sh
set -e
cd "$(dirname "$0")"
rm -rf corpus
mkdir corpus
w() { printf "$2" >"corpus/$1"; }
# create pool 0 (cap 16, grow 3, cache 2), alloc, hold, free, unhold, stats
w pool-basics '\030\000\017\003\002\002\000\000\001\000\001\000\014\000\000\000\006\000\000\015\000\000\021\000'
# the default pool: alloc, seed frees, steal, translation, trim, flush
w default-pool '\001\003\001\003\001\003\006\003\000\001\007\003\000\016\003\000\001\023\003\005\005\017\003\020\003'
# bulk and runs in a 64-page no-cache pool
w bulk-runs '\030\001\077\000\001\003\000\001\004\001\040\005\001\010\012\001\020\013\001\000\004\005\001\030\020\001'
# mbufs over pool pages: build, copy, free, with holds on the pages
w mbufs '\030\002\037\000\000\001\000\001\002\001\002\024\002\003\000\002\002\002\025\000\003\000\014\014\002\000\026\000\026\003'
# bad addresses, double frees, pools refused, destroy refused
w misuse '\030\000\007\001\001\000\003\002\001\000\011\000\000\011\000\002\011\000\003\011\000\004\027\000\016\000\000\027\000'
# a run at the cap straddling the depot and the fresh frames (found by
# the fuzzer: alloc_contig(14) gave ENOMEM in a free 14-page pool)
w contig-straddle '\030\000\015\377\372\377\016\003\002\002\000\000\001\000\000\340\247\263\340\121\065\065\065\114\376\377'
# a debug pool, a shared one: poison, steal refused
w debug-shared '\030\000\020\000\003\016\001\000\001\000\016\000\000\030\001\020\000\000\014\001\001\001\016\001\000\006\001'
