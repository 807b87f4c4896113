# Server CPU-seconds (utime+stime, all processes) per 1000 delivered
# messages in the chat phase, per offered rate and server.
# gnuplot -e "datafile='cpu.dat'; outfile='cpu.png'; servers='xmppd prosody ejabberd'" cpu.gp
set terminal pngcairo size 900,560 noenhanced font ",10"
set output outfile
set datafile missing "-"
set title "Server CPU per 1000 routed messages (lower is better)"
set ylabel "CPU-seconds per 1000 delivered messages"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top right
set grid ytics
set yrange [0:*]
plot for [i=2:words(servers)+1] datafile using i:xtic(1) title word(servers,i-1)
