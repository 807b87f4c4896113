# Message latency (generator send -> partner receive) from the chat runs:
# p50 / p99 / p99.9 bars per server and offered rate, log scale.
# gnuplot -e "datafile='latency.dat'; outfile='latency.png'" latency.gp
set terminal pngcairo size 1000,560 noenhanced font ",10"
set output outfile
set datafile missing "-"
set title "Chat message latency (lower is better)"
set ylabel "ms (log scale)"
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -20
set key top left
set grid ytics
plot datafile using 2:xtic(1) title "p50", '' using 3 title "p99", '' using 4 title "p99.9"
