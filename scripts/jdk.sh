# scripts/jdk.sh: sourced (not run) by ./mqb, .ci/run and scripts/nbd-bench.sh, so that java and mvn
# both run on JDK 25 while the system's default java may be older. After
#
#   source scripts/jdk.sh && mqb_use_jdk NAME
#
# JAVA_HOME (which mvn reads) names the JDK and its bin/ leads PATH. The JDK is:
#   1. $JAVA_HOME, when it is a JDK (bin/java and bin/javac) whose release file says 25 or newer;
#   2. else the newest such JDK, by its release file's JAVA_VERSION, in $MQB_JVM_DIR (default
#      /usr/lib/jvm, where Debian's openjdk-*-jdk and Adoptium's temurin-*-jdk packages install).
# When there is none, mqb_use_jdk prints one line, starting with NAME, saying what to install, and
# returns 1. MQB_JVM_DIR exists for testing that path (MQB_JVM_DIR=/nonexistent JAVA_HOME= ./mqb).
#
# It also sets mqb_java_flags, the flags every JVM that runs mqb.jar gets so that JDK 25 prints no
# warning; the test JVMs get the same through test.jvm.args in the root pom, and JMH's forks
# inherit them from either (experiments' ForkFlags adds them where a JVM was started without):
#   --enable-native-access=ALL-UNNAMED     Chronicle Affinity loads native code through JNA, which
#                                          JDK 24+ warns about unless the caller is allowed (JEP 472)
#   --sun-misc-unsafe-memory-access=allow  JMH, Agrona and JCTools use sun.misc.Unsafe's memory
#                                          access methods, which JDK 24+ warns about (JEP 498)

mqb_jdk_min=25
mqb_java_flags=(--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow)

# Prints the JAVA_VERSION of the JDK at $1; fails when $1 is not a JDK or has no release file.
mqb_jdk_version() {
  local home=$1 v
  [[ -x "$home/bin/java" && -x "$home/bin/javac" && -r "$home/release" ]] || return 1
  v=$(sed -n 's/^JAVA_VERSION="\([^"]*\)".*/\1/p' "$home/release")
  [[ -n "$v" ]] || return 1
  echo "$v"
}

# Succeeds when version $1 (25.0.3, 25, 25-ea; 1.8.0_392 counts as 1) is at least mqb_jdk_min.
mqb_jdk_recent() {
  local major=${1%%[.+-]*}
  [[ $major =~ ^[0-9]+$ ]] && (( major >= mqb_jdk_min ))
}

mqb_use_jdk() {
  local who=$1 dir=${MQB_JVM_DIR:-/usr/lib/jvm} home v best="" bestv=""
  if [[ -n "${JAVA_HOME:-}" ]] && v=$(mqb_jdk_version "$JAVA_HOME") && mqb_jdk_recent "$v"; then
    best=$JAVA_HOME
  else
    for home in "$dir"/*; do
      v=$(mqb_jdk_version "$home") || continue
      mqb_jdk_recent "$v" || continue
      if [[ -z "$best" || ( "$v" != "$bestv" && "$(printf '%s\n' "$bestv" "$v" | sort -V | tail -n 1)" == "$v" ) ]]; then
        best=$home
        bestv=$v
      fi
    done
  fi
  if [[ -z "$best" ]]; then
    echo "$who: JDK $mqb_jdk_min not found (JAVA_HOME=${JAVA_HOME:-unset}, $dir); install Temurin $mqb_jdk_min or openjdk-$mqb_jdk_min-jdk, or set JAVA_HOME to a JDK $mqb_jdk_min or newer" >&2
    return 1
  fi
  export JAVA_HOME=$best
  export PATH="$JAVA_HOME/bin:$PATH"
}
