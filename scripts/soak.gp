# The soak's plot (scripts/soak):
#   gnuplot -e "samples='...'; load='...'; png='...'; every=30; rate=500; seconds=600" scripts/soak.gp
# Three panels over the run's seconds: the gateway's RSS and open descriptors; its bounded
# maps (rate-limit keys and their bound, cache entries); requests per second and p99 latency.
set terminal pngcairo size 1200,1000 font ",10" noenhanced
set output png
set datafile separator ","
set key autotitle columnhead top left
set grid
set xrange [0:seconds]
set multiplot layout 3,1 title sprintf("Portcullis soak: %d requests/s for %d s, a reload (config change + SIGHUP) every %d s", rate, seconds, every)

set title "Gateway process"
set ylabel "RSS (MiB)"
set y2label "open descriptors"
set y2tics
set ytics nomirror
set yrange [0:*]
set y2range [0:*]
plot samples using 1:($2/1024) with lines lw 2 title "RSS (MiB)", \
     samples using 1:3 axes x1y2 with lines lw 2 title "open descriptors"

set title "Bounded maps"
set ylabel "entries"
unset y2label
unset y2tics
set ytics mirror
plot samples using 1:4 with lines lw 2 title "rate-limit keys", \
     samples using 1:5 with lines dt 2 lw 2 title "rate-limit bound (max_keys)", \
     samples using 1:6 with lines lw 2 title "cache entries"

set title "Load"
set xlabel "seconds"
set ylabel "requests/s"
set y2label "ms"
set y2tics
set ytics nomirror
plot load using 1:2 with lines lw 1 title "sent/s", \
     load using 1:($4+$5) with impulses lw 2 title "failed/s", \
     load using 1:7 axes x1y2 with lines lw 1 title "p99 (ms, bucket bound)"
unset multiplot
