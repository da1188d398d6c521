# Resolving and checking Maven jars, sourced by fetch_flink_job_server.sh and
# flink_session_cluster.sh. The caller defines $m2 (the local Maven repository), $dir (a
# scratch folder), $dep_plugin (the maven-dependency-plugin coordinates), mvn_, log and die.

# The runtime classpath of pom $1 as m2-relative jar paths, written to file $2.
resolve_classpath() {
  local pom="$1" cp="$dir/.cp.$$"
  log "resolving the classpath of $pom"
  mvn_ -f "$pom" "$dep_plugin:build-classpath" -Dmdep.includeScope=runtime \
       -Dmdep.outputFile="$cp" >&2 || die "could not resolve $pom from Maven Central"
  python3 - "$cp" "$m2" > "$2" <<'PY'
import os, sys
cp, m2 = open(sys.argv[1]).read().strip(), os.path.realpath(sys.argv[2])
for p in cp.split(os.pathsep):
    print(os.path.relpath(os.path.realpath(p), m2))
PY
  rm -f "$cp"
}

# Every jar (m2-relative paths on stdin) against the .sha1 Maven Central published beside
# it (the resolver keeps it in m2 as <jar>.sha1).
verify_sha1() {
  local rel want got n=0
  while read -r rel; do
    [ -f "$m2/$rel" ] || die "missing $m2/$rel"
    [ -f "$m2/$rel.sha1" ] || die "no published .sha1 for $rel"
    want="$(tr -d ' \r\n' < "$m2/$rel.sha1" | cut -c1-40)"
    got="$(sha1sum "$m2/$rel" | cut -d' ' -f1)"
    [ "$want" = "$got" ] || die "SHA-1 mismatch for $rel: Maven Central says $want, file is $got"
    n=$((n + 1))
  done
  log "SHA-1 of $n jar(s) match Maven Central's .sha1"
}

# The jars listed in file $1 against the SHA-256 pinned in file $2; the set must be exact.
# $3: how to re-pin (shown in the error).
verify_pinned_sha256() {
  local jars="$1" sums="$2" repin="$3"
  [ -f "$sums" ] || die "$sums missing ($repin)"
  diff <(sort "$jars") <(awk '{print $2}' "$sums" | sort) >/dev/null \
    || die "classpath differs from $sums ($repin after review)"
  (cd "$m2" && sha256sum --quiet -c "$sums" >&2) || die "SHA-256 mismatch against $sums"
  log "SHA-256 of $(wc -l < "$jars") jar(s) match $sums"
}
