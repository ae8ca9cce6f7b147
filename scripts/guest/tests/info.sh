# The default test (mqb.test=info): what the guest sees, for a first boot by hand.
mqb_result uname uname -a
mqb_result cpus nproc
for d in /sys/block/vd*; do
  [ -e "$d" ] && mqb_result "limits-${d##*/}" mqb_limits "${d##*/}"
done
true
