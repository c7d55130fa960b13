# Sourced by every script: finds a JDK >= 22 and sets the paths the build uses.
# shellcheck shell=bash
SPECTRO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SPECTRO_ROOT

spectro_java_major() { # prints the major version of the java binary $1
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | head -n1
}

spectro_find_jdk() {
  local cand v
  for cand in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk \
              /usr/lib/jvm/java-25-openjdk-amd64 /usr/lib/jvm/*25* /usr/lib/jvm/*24* /usr/lib/jvm/*23* \
              /usr/lib/jvm/*22* /opt/java/openjdk /usr/local/java; do
    [ -n "$cand" ] && [ -x "$cand/bin/java" ] && [ -x "$cand/bin/javac" ] || continue
    v=$(spectro_java_major "$cand/bin/java")
    if [ -n "$v" ] && [ "$v" -ge 22 ] 2>/dev/null; then
      export JAVA_HOME="$cand"; export PATH="$JAVA_HOME/bin:$PATH"; return 0
    fi
  done
  echo "spectro: no JDK >= 22 found (the FFM API needs it). Set JAVA_HOME to a JDK 22+ (25 recommended)," >&2
  echo "         e.g. apt-get install temurin-25-jdk, or export JAVA_HOME=/path/to/jdk-25." >&2
  return 1
}

SPECTRO_NATIVE_DIR="$SPECTRO_ROOT/build/native"
SPECTRO_JAR="$SPECTRO_ROOT/java/target/spectro-all.jar"
SPECTRO_JVM_FLAGS=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xss8m
                   -XX:+IgnoreUnrecognizedVMOptions --sun-misc-unsafe-memory-access=allow
                   --add-opens=java.base/java.nio=ALL-UNNAMED
                   "-Dspectro.native.dir=$SPECTRO_NATIVE_DIR" "-Dspectro.repo=$SPECTRO_ROOT")
export SPECTRO_NATIVE_DIR SPECTRO_JAR

# newer_than TARGET PATH...: true when TARGET is missing or any file under PATH is newer.
spectro_stale() {
  local target="$1"; shift
  [ -e "$target" ] || return 0
  [ -n "$(find "$@" -newer "$target" -type f -print -quit 2>/dev/null)" ]
}
# Maven 3.8's bundled Guava calls sun.misc.Unsafe; JDK 24+ warns on every build without this.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
