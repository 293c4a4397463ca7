# make bench charts: gnuplot -e "dir='build/bench'" bench/plot.gp
# Reads the .dat files bench/report.py writes into dir.
if (!exists("dir")) dir = "build/bench"
# throughput.env: raw txn/s at c=16, then raw txn p50 (ms) at c=1.
raw16 = real(system("sed -n 1p " . dir . "/throughput.env"))
rawp50 = real(system("sed -n 2p " . dir . "/throughput.env"))

set terminal pngcairo size 1100,600 font "sans,11" noenhanced
set output dir . "/throughput.png"
set title "flintsched placements/s vs etcd's raw txn/s (same run, same etcd)"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.7
set ylabel "operations or placements per second"
set xtics rotate by -30 left
set yrange [0:*]
set grid ytics
set key top left
plot dir . "/throughput.dat" using 2:xtic(1) title "measured" lc rgb "#4477aa", \
     raw16 * 0.7 with lines dt 2 lw 2 lc rgb "#cc3311" title "0.7 x raw txn c=16 (cached target)", \
     raw16 * 0.25 with lines dt 3 lw 2 lc rgb "#ee7733" title "0.25 x raw txn c=16 (sample target)"

reset
set terminal pngcairo size 1100,600 font "sans,11" noenhanced
set output dir . "/latency.png"
set title "submit -> scheduled latency, CDF (paced at half the max; and saturated)"
set xlabel "latency, ms (log scale)"
set ylabel "fraction of requests"
set logscale x
set yrange [0:1]
set grid
set key bottom right
set arrow 1 from rawp50, graph 0 to rawp50, graph 1 nohead lw 1 lc rgb "#000000"
set arrow 2 from 3 * rawp50, graph 0 to 3 * rawp50, graph 1 nohead dt 2 lc rgb "#4477aa"
set arrow 3 from 8 * rawp50, graph 0 to 8 * rawp50, graph 1 nohead dt 2 lc rgb "#228833"
set label 1 "raw txn p50" at rawp50, graph 0.97 left offset 0.3,0
set label 2 "3x (cached target)" at 3 * rawp50, graph 0.93 left offset 0.3,0
set label 3 "8x (sample target)" at 8 * rawp50, graph 0.89 left offset 0.3,0
plot dir . "/cdf-paced-cached.dat" using 1:2 with lines lw 3 lc rgb "#4477aa" title "cached, paced", \
     dir . "/cdf-paced-sample.dat" using 1:2 with lines lw 3 lc rgb "#228833" title "sample, paced", \
     dir . "/cdf-tput-cached.dat" using 1:2 with lines lw 1 dt 2 lc rgb "#4477aa" title "cached, saturated", \
     dir . "/cdf-tput-sample.dat" using 1:2 with lines lw 1 dt 2 lc rgb "#228833" title "sample, saturated", \
     dir . "/cdf-tput-broadcast.dat" using 1:2 with lines lw 1 dt 2 lc rgb "#aa3377" title "broadcast, saturated"

# 8. scale: what a placement costs etcd as the fleet grows, each host
# with its own watches (scale.dat from report.py).
reset
set terminal pngcairo size 1100,900 font "sans,11" noenhanced
set output dir . "/scale.png"
set multiplot layout 3,1 title "per-host watches: sample and cached against the host count"
set logscale x
set xlabel "simulated hosts, each with its own watches"
set grid
set key top right
set ylabel "placements/s"
set yrange [0:*]
plot dir . "/scale.dat" using 1:2 with linespoints lw 2 lc rgb "#228833" title "sample", \
     dir . "/scale.dat" using 1:3 with linespoints lw 2 lc rgb "#4477aa" title "cached"
set ylabel "etcd watch events / placement"
plot dir . "/scale.dat" using 1:4 with linespoints lw 2 lc rgb "#228833" title "sample", \
     dir . "/scale.dat" using 1:5 with linespoints lw 2 lc rgb "#4477aa" title "cached"
set ylabel "etcd CPU ms / placement"
plot dir . "/scale.dat" using 1:6 with linespoints lw 2 lc rgb "#228833" title "sample", \
     dir . "/scale.dat" using 1:7 with linespoints lw 2 lc rgb "#4477aa" title "cached"
unset multiplot
