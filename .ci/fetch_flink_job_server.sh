#!/usr/bin/env bash
# Fetch (once) and verify the Beam Flink job server; print the path of the jar to pass
# as --flink_job_server_jar (runner_configs/flink_local.yaml points at the same path).
#
#   .ci/fetch_flink_job_server.sh                    # prints .../flink/job-server.jar
#   .ci/fetch_flink_job_server.sh --update-checksums # maintainers: re-pin the fallback
#
# Everything lives under ${NEUROKUBE_CACHE:-$HOME/.cache/neurokube}/flink/: a Maven
# local repository (m2/) and job-server.jar, a small launcher jar whose manifest runs
# org.apache.beam.runners.flink.FlinkJobServerDriver with the verified jars of m2/ on its
# Class-Path. A second run re-verifies and prints the path without touching the network.
#
# Which job server (NEUROKUBE_FLINK_JOB_SERVER=auto|published|assembled, default auto):
#   published  org.apache.beam:beam-runners-flink-${FLINK}-job-server:${BEAM} from Maven
#              Central (BEAM=${NEUROKUBE_BEAM_VERSION:-2.77.0},
#              FLINK=${NEUROKUBE_FLINK_VERSION:-1.20}), checked against Central's .sha1.
#   assembled  the classpath pinned by .ci/flink-job-server/pom.xml (Beam 2.62.0, Flink
#              1.19), every jar checked against Central's .sha1 and against the SHA-256
#              recorded in .ci/flink-job-server/SHA256SUMS.
#   auto       published, else assembled (with a warning on stderr).
# Needs: java, mvn, python3, sha1sum, sha256sum. Diagnostics go to stderr; stdout is
# the jar path only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
beam_version="${NEUROKUBE_BEAM_VERSION:-2.77.0}"
flink_version="${NEUROKUBE_FLINK_VERSION:-1.20}"
mode="${NEUROKUBE_FLINK_JOB_SERVER:-auto}"
cache="${NEUROKUBE_CACHE:-$HOME/.cache/neurokube}"
dir="$cache/flink"
m2="$dir/m2"
launcher="$dir/job-server.jar"
record="$dir/job-server.sources"      # "kind <tab> key" then one m2-relative jar a line
assembled_pom="$here/flink-job-server/pom.xml"
assembled_sums="$here/flink-job-server/SHA256SUMS"
dep_plugin="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
main_class="org.apache.beam.runners.flink.FlinkJobServerDriver"
published_ga="org.apache.beam:beam-runners-flink-${flink_version}-job-server"
published_key="published ${published_ga}:${beam_version}"
sum16() { if [ -f "$1" ]; then sha256sum "$1" | cut -c1-16; else echo none; fi; }
assembled_key="assembled pom:$(sum16 "$assembled_pom") sums:$(sum16 "$assembled_sums")"

log() { echo "fetch_flink_job_server: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in java mvn python3 sha1sum sha256sum; do
  command -v "$tool" >/dev/null || die "$tool not found (install openjdk-17-jdk-headless and maven)"
done
case "$mode" in auto|published|assembled) ;; *) die "NEUROKUBE_FLINK_JOB_SERVER=$mode: use auto, published or assembled";; esac
mkdir -p "$dir"

mvn_() { mvn -B -q -C -Dstyle.color=never -Dmaven.repo.local="$m2" "$@"; }

# verify_sha1 and verify_pinned_sha256.
. "$(dirname "${BASH_SOURCE[0]}")/jar_checks.sh"

write_launcher() {  # $1: file with m2-relative jar paths
  local tmp="$launcher.tmp.$$"
  python3 - "$1" "$tmp" "$main_class" <<'PY'
import sys, zipfile
jars_file, out, main = sys.argv[1:4]
cp = " ".join("m2/" + line.strip() for line in open(jars_file) if line.strip())
def wrap(header):  # manifest lines are at most 72 bytes; continuations start with a space
    lines, s = [], header
    lines.append(s[:70]); s = s[70:]
    while s:
        lines.append(" " + s[:69]); s = s[69:]
    return "\r\n".join(lines)
manifest = "\r\n".join([
    "Manifest-Version: 1.0", f"Main-Class: {main}", wrap("Class-Path: " + cp), "", ""])
with zipfile.ZipFile(out, "w") as z:
    z.writestr("META-INF/MANIFEST.MF", manifest)
    # slf4j-simple (assembled classpath): keep the embedded Flink cluster quiet.
    z.writestr("simplelogger.properties",
               "org.slf4j.simpleLogger.defaultLogLevel=warn\n"
               "org.slf4j.simpleLogger.logFile=System.err\n")
PY
  mv -f "$tmp" "$launcher"
}

# --- cache hit: re-verify what the record names, print, done ---------------------
cached_ok() {
  [ -f "$launcher" ] && [ -f "$record" ] || return 1
  local key; key="$(head -n1 "$record")"
  case "$mode:$key" in
    auto:"$published_key"|published:"$published_key") ;;
    auto:"$assembled_key"|assembled:"$assembled_key") ;;
    *) return 1 ;;
  esac
  tail -n +2 "$record" > "$dir/.jars.$$"
  ( verify_sha1 < "$dir/.jars.$$" ) || { rm -f "$dir/.jars.$$"; return 1; }
  if [ "$key" = "$assembled_key" ]; then
    ( verify_pinned_sha256 "$dir/.jars.$$" "$assembled_sums" "run with --update-checksums" ) || { rm -f "$dir/.jars.$$"; return 1; }
  fi
  rm -f "$dir/.jars.$$"
  log "cached: $key"
  return 0
}

fetch_published() {
  local rel="org/apache/beam/beam-runners-flink-${flink_version}-job-server/${beam_version}/beam-runners-flink-${flink_version}-job-server-${beam_version}.jar"
  log "fetching ${published_ga}:${beam_version} from Maven Central"
  if ! mvn_ "$dep_plugin:get" -Dartifact="${published_ga}:${beam_version}:jar" -Dtransitive=false >&2; then
    log "${published_ga}:${beam_version} is not available from the Maven repository reached here"
    return 1
  fi
  echo "$rel" > "$dir/.jars.$$"
  verify_sha1 < "$dir/.jars.$$"
  write_launcher "$dir/.jars.$$"
  { echo "$published_key"; cat "$dir/.jars.$$"; } > "$record"
  rm -f "$dir/.jars.$$"
}

resolve_assembled() { resolve_classpath "$assembled_pom" "$1"; }

fetch_assembled() {
  resolve_assembled "$dir/.jars.$$"
  verify_sha1 < "$dir/.jars.$$"
  verify_pinned_sha256 "$dir/.jars.$$" "$assembled_sums" "run with --update-checksums"
  write_launcher "$dir/.jars.$$"
  { echo "$assembled_key"; cat "$dir/.jars.$$"; } > "$record"
  rm -f "$dir/.jars.$$"
}

if [ "${1:-}" = "--update-checksums" ]; then
  resolve_assembled "$dir/.jars.$$"
  verify_sha1 < "$dir/.jars.$$"
  (cd "$m2" && sort "$dir/.jars.$$" | xargs sha256sum) > "$assembled_sums"
  rm -f "$dir/.jars.$$" "$record"
  log "wrote $assembled_sums ($(wc -l < "$assembled_sums") jars); review and commit it"
  exit 0
fi

exec 9> "$dir/.lock"   # one fetch at a time (parallel test sessions share the cache)
flock 9 2>/dev/null || true
if ! cached_ok; then
  rm -f "$record"
  case "$mode" in
    published) fetch_published || die "published job server unavailable" ;;
    assembled) fetch_assembled ;;
    auto)
      if ! fetch_published; then
        log "WARNING: falling back to the assembled job server of $assembled_pom" \
            "(Beam Java $(sed -n 's#.*<beam.version>\(.*\)</beam.version>.*#\1#p' "$assembled_pom"))," \
            "which is not version-matched to the Python SDK ${beam_version}"
        fetch_assembled
      fi ;;
  esac
fi
echo "$launcher"
