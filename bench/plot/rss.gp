# Server RSS (all processes) against held idle sessions, one line per server.
# gnuplot -e "datafile='rss.dat'; outfile='rss.png'; servers='xmppd prosody ejabberd'" rss.gp
set terminal pngcairo size 900,560 noenhanced font ",10"
set output outfile
set datafile missing "-"
set title "Server RSS against idle authenticated TLS sessions (end of the hold, after xmppd's idle_sleep)"
set xlabel "sessions held"
set ylabel "RSS, all server processes (MiB)"
set key top left
set grid
set format x "%.0f"
plot for [i=1:words(servers)] datafile using 1:(column(i+1)) with linespoints lw 2 pt 7 title word(servers,i)
