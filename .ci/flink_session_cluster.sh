#!/usr/bin/env bash
# A standalone Flink session cluster on localhost: one JobManager and N TaskManagers
# (default 2), each its own JVM, for running NeuroKube jobs on a real multi-process Flink
# cluster (tests/test_flink_session_cluster.py; runner_configs/flink/SESSION_CLUSTER.md).
#
#   .ci/flink_session_cluster.sh start [--name NAME] [--rest-port PORT] [--taskmanagers N]
#                                      [--slots N] [--owner-pid PID] [--timeout S]
#                                      # prints HOST:PORT of the REST API (--flink_master)
#   .ci/flink_session_cluster.sh status [--name NAME]   # exit 0 and HOST:PORT when up
#   .ci/flink_session_cluster.sh stop [--name NAME] [--purge]  # TERM, KILL after 20 s;
#                                      # --purge also removes the instance's folder and logs
#   .ci/flink_session_cluster.sh fetch                  # only resolve + verify the jars
#   .ci/flink_session_cluster.sh update-checksums       # maintainers: re-pin SHA256SUMS
#
# Flink's flink-dist tarball is not served here, so the cluster runs from Maven jars: the
# classpath of .ci/flink-session-cluster/pom.xml (Flink 1.19.0, the version the assembled
# Beam 2.62.0 job server of fetch_flink_job_server.sh runs), every jar checked against
# Maven Central's .sha1 and against the SHA-256 in .ci/flink-session-cluster/SHA256SUMS.
# The JVMs are started as flink-dist's jobmanager.sh / taskmanager.sh start them: memory
# flags from Flink's own BashJavaUtils, Flink's Java 17 --add-opens list, log4j 2.
# The entry points are org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint
# and org.apache.flink.runtime.taskexecutor.TaskManagerRunner.
#
# Everything lives under ${NEUROKUBE_CACHE:-$HOME/.cache/neurokube}/flink-cluster/:
# m2/ (Maven local repository), classpath.sources (verified jar list) and
# instances/NAME/ (conf/, log/, tmp/, *.pid, owner, watcher) for each cluster (NAME
# default "default"; `stop` keeps conf/ and log/ unless --purge, and a later `start`
# removes stopped instances untouched for 7 days). --rest-port defaults to a free port
# (give 8081 for the usual one); the JobManager RPC port is a free port too, every other
# port is picked by Flink (0), so several clusters (and the job server's embedded
# cluster) never collide.
# --owner-pid: the cluster belongs to that process (a test session): a watcher process
# stops it as soon as that process has exited, even when it was killed before its own
# cleanup; should the watcher be gone too, the next `start` of any instance does it.
#
# Needs: java, mvn, python3, sha1sum, sha256sum, flock. Diagnostics go to stderr; stdout
# carries only the REST address (start, status).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${NEUROKUBE_CACHE:-$HOME/.cache/neurokube}"
dir="$cache/flink-cluster"
m2="$dir/m2"
record="$dir/classpath.sources"        # "key" line, then one m2-relative jar a line
pom="$here/flink-session-cluster/pom.xml"
sums="$here/flink-session-cluster/SHA256SUMS"
dep_plugin="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
jm_class="org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint"
tm_class="org.apache.flink.runtime.taskexecutor.TaskManagerRunner"
bash_java_utils="org.apache.flink.runtime.util.bash.BashJavaUtils"
sum16() { if [ -f "$1" ]; then sha256sum "$1" | cut -c1-16; else echo none; fi; }
key="pom:$(sum16 "$pom") sums:$(sum16 "$sums")"
# Flink 1.19's default env.java.opts.all (flink-dist conf/): Java 17 module access.
java17_opts=(
  --add-exports=java.base/sun.net.util=ALL-UNNAMED
  --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED
  --add-opens=java.base/java.time=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)

log() { echo "flink_session_cluster: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

mvn_() { mvn -B -q -C -Dstyle.color=never -Dmaven.repo.local="$m2" "$@"; }

# --- the verified classpath (same checks as fetch_flink_job_server.sh) -------------

# verify_sha1 and verify_pinned_sha256.
. "$(dirname "${BASH_SOURCE[0]}")/jar_checks.sh"

resolve() { resolve_classpath "$pom" "$1"; }  # m2-relative jar paths to $1

ensure_classpath() {  # resolve (once) and verify; cache hit re-verifies without network
  mkdir -p "$dir"
  exec 9> "$dir/.lock"   # one fetch at a time (parallel test sessions share the cache)
  flock 9 2>/dev/null || true
  local jars="$dir/.jars.$$"
  if [ -f "$record" ] && [ "$(head -n1 "$record")" = "$key" ]; then
    tail -n +2 "$record" > "$jars"
    if ( verify_sha1 < "$jars" && verify_pinned_sha256 "$jars" "$sums" "run update-checksums" ); then
      rm -f "$jars"; exec 9>&-; return 0
    fi
    log "cached classpath failed verification: resolving again"
  fi
  rm -f "$record"
  resolve "$jars"
  verify_sha1 < "$jars"
  verify_pinned_sha256 "$jars" "$sums" "run update-checksums"
  { echo "$key"; cat "$jars"; } > "$record"
  rm -f "$jars"
  exec 9>&-
}

classpath() { tail -n +2 "$record" | sed "s#^#$m2/#" | paste -sd: -; }

# --- instances ---------------------------------------------------------------------

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# PID of a cluster JVM of instance dir $1 from pid file $2, if that process still runs
# and is ours (its command line names the instance's conf dir: no pid reuse accidents).
jvm_pid() {
  local pid
  [ -f "$2" ] || return 1
  pid="$(cat "$2")"
  alive "$pid" || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1/conf" || return 1
  echo "$pid"
}

stop_instance() {  # $1: instance dir
  local inst="$1" pidfile pid pids=() waited=0
  for pidfile in "$inst"/*.pid; do
    [ -e "$pidfile" ] || continue
    if pid="$(jvm_pid "$inst" "$pidfile")"; then pids+=("$pid"); fi
  done
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  while [ "${#pids[@]}" -gt 0 ]; do
    local left=()
    for pid in "${pids[@]}"; do alive "$pid" && left+=("$pid"); done
    pids=("${left[@]}")
    [ "${#pids[@]}" -eq 0 ] && break
    if [ "$waited" -ge 200 ]; then
      log "killing ${pids[*]} (no exit 20 s after SIGTERM)"
      for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
      sleep 0.5
      break
    fi
    sleep 0.1; waited=$((waited + 1))
  done
  # The watcher of --owner-pid (unless it is the one stopping the cluster).
  if pid="$(cat "$inst/watcher" 2>/dev/null)" && [ "$pid" != "$$" ] && alive "$pid" \
     && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "watch --name $(basename "$inst") "; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$inst"/*.pid "$inst/owner" "$inst/watcher"
  rm -rf "$inst/tmp"     # blob caches hold every job's staged jars
}

running() {  # number of live JVMs of instance dir $1
  local f n=0
  for f in "$1"/*.pid; do
    [ -e "$f" ] || continue
    if jvm_pid "$1" "$f" >/dev/null; then n=$((n + 1)); fi
  done
  echo "$n"
}

# Instances whose --owner-pid has died: stop them and remove them. Stopped instances
# (logs kept) untouched for 7 days: remove them.
reap_orphans() {
  local inst owner
  for inst in "$dir"/instances/*/; do
    inst="${inst%/}"
    [ -d "$inst" ] || continue
    if [ -f "$inst/owner" ]; then
      owner="$(cat "$inst/owner")"
      alive "$owner" && continue
      log "stopping $(basename "$inst"): its owner (pid $owner) has exited"
      stop_instance "$inst"
      rm -rf "$inst"
    elif [ "$(running "$inst")" = 0 ] && [ -z "$(find "$inst" -newermt '-7 days' -print -quit)" ]; then
      rm -rf "$inst"
    fi
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_free() {
  python3 -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' \
    "$1" 2>/dev/null
}

# {"taskmanagers": N, ...} of GET /overview, or nothing when the REST API does not answer.
overview() {
  python3 - "$1" <<'PY' 2>/dev/null || true
import json, sys, urllib.request
with urllib.request.urlopen(f"http://localhost:{sys.argv[1]}/overview", timeout=2) as r:
    o = json.load(r)
print(o["taskmanagers"], o["slots-total"], o["flink-version"])
PY
}

write_conf() {  # $1 instance dir, $2 rest port, $3 rpc port, $4 slots, $5 taskmanagers
  local inst="$1"
  mkdir -p "$inst/conf" "$inst/log" "$inst/tmp" "$inst/plugins"
  cat > "$inst/conf/flink-conf.yaml" <<EOF
# Written by .ci/flink_session_cluster.sh start (instance $(basename "$inst")).
jobmanager.rpc.address: localhost
jobmanager.rpc.port: $3
jobmanager.bind-host: localhost
taskmanager.bind-host: localhost
taskmanager.host: localhost
rest.address: localhost
rest.bind-address: localhost
rest.port: $2
# Small enough for a 2-core CI machine: 1 GiB JobManager, 1.5 GiB per TaskManager
# (the Python SDK harness runs outside Flink, in the Beam worker pool).
jobmanager.memory.process.size: 1024m
taskmanager.memory.process.size: 1536m
taskmanager.memory.managed.size: 128m
# The label job's graph (whole and chunked recordings written apart, dead letters of
# every step flattened) needs about 512 network buffers in one task; the default 10 %
# of a small TaskManager (~2,600 buffers for every task of the slot) ran short.
taskmanager.memory.network.min: 256m
taskmanager.memory.network.max: 256m
taskmanager.numberOfTaskSlots: $4
parallelism.default: $(( $4 * $5 ))
io.tmp.dirs: $inst/tmp
web.tmpdir: $inst/tmp/web
web.upload.dir: $inst/tmp/web-upload
blob.storage.directory: $inst/tmp/blobs
# The job server uploads its whole classpath (~190 MB of jars) with every job.
rest.client.max-content-length: 1073741824
rest.server.max-content-length: 1073741824
EOF
  cat > "$inst/conf/log4j.properties" <<'EOF'
# As flink-dist's conf/log4j.properties: INFO to the file named by -Dlog.file.
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = MainAppender
logger.pekko.name = org.apache.pekko
logger.pekko.level = WARN
logger.akka.name = akka
logger.akka.level = WARN
logger.netty.name = org.apache.flink.shaded.netty4.io.netty.channel.DefaultChannelPipeline
logger.netty.level = OFF
appender.main.name = MainAppender
appender.main.type = File
appender.main.append = true
appender.main.fileName = ${sys:log.file}
appender.main.layout.type = PatternLayout
appender.main.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
EOF
}

# "BASH_JAVA_UTILS_EXEC_RESULT:" lines of Flink's BashJavaUtils (what config.sh does).
resource_params() {  # $1 GET_JM_RESOURCE_PARAMS|GET_TM_RESOURCE_PARAMS, $2 conf dir
  local out
  out="$(java -cp "$cp" "$bash_java_utils" "$1" --configDir "$2" 2>&1)" \
    || die "BashJavaUtils $1 failed: $out"
  grep '^BASH_JAVA_UTILS_EXEC_RESULT:' <<< "$out" | sed 's/^BASH_JAVA_UTILS_EXEC_RESULT://'
}

launch() {  # $1 instance dir, $2 role name, $3 main class, $4 jvm params, $5... args
  local inst="$1" role="$2" main="$3" jvm="$4"; shift 4
  # shellcheck disable=SC2086  # jvm params are word lists by construction
  (cd "$inst" && FLINK_PLUGINS_DIR="$inst/plugins" exec java $jvm "${java17_opts[@]}" \
       -Dlog.file="$inst/log/$role.log" \
       -Dlog4j.configurationFile="file:$inst/conf/log4j.properties" \
       -cp "$cp" "$main" --configDir "$inst/conf" "$@") \
       < /dev/null > "$inst/log/$role.out" 2>&1 &
  echo $! > "$inst/$role.pid"
}

cmd_start() {
  local name=default rest_port="" tms=2 slots=1 owner="" timeout=180
  while [ $# -gt 0 ]; do
    case "$1" in
      --name) name="$2"; shift 2 ;;
      --rest-port) rest_port="$2"; shift 2 ;;
      --taskmanagers) tms="$2"; shift 2 ;;
      --slots) slots="$2"; shift 2 ;;
      --owner-pid) owner="$2"; shift 2 ;;
      --timeout) timeout="$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ "$name" =~ ^[A-Za-z0-9_.-]+$ ]] || die "--name: letters, digits, . _ - only"
  for tool in java mvn python3 sha1sum sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found (install openjdk-17-jdk-headless and maven)"
  done
  ensure_classpath
  cp="$(classpath)"
  mkdir -p "$dir/instances"
  reap_orphans
  local inst="$dir/instances/$name"
  [ "$(running "$inst")" = 0 ] || die "instance $name is running; stop it first"
  rm -rf "$inst"
  if [ -z "$rest_port" ]; then
    rest_port="$(free_port)"
  elif ! port_free "$rest_port"; then
    die "port $rest_port is in use (another Flink cluster?); pick another --rest-port"
  fi
  write_conf "$inst" "$rest_port" "$(free_port)" "$slots" "$tms"
  [ -z "$owner" ] || echo "$owner" > "$inst/owner"

  local jm tm
  mapfile -t jm < <(resource_params GET_JM_RESOURCE_PARAMS "$inst/conf")
  mapfile -t tm < <(resource_params GET_TM_RESOURCE_PARAMS "$inst/conf")
  [ "${#jm[@]}" -ge 2 ] && [ "${#tm[@]}" -ge 2 ] || die "unexpected BashJavaUtils output"
  # shellcheck disable=SC2086
  launch "$inst" jobmanager "$jm_class" "${jm[0]}" ${jm[1]}
  local i
  for i in $(seq 1 "$tms"); do
    # shellcheck disable=SC2086
    launch "$inst" "taskmanager-$i" "$tm_class" "${tm[0]}" ${tm[1]} \
           -D "taskmanager.resource-id=$name-tm-$i"
  done
  if [ -n "$owner" ]; then   # stop the cluster as soon as its owner exits
    bash "${BASH_SOURCE[0]}" watch --name "$name" --owner-pid "$owner" \
      < /dev/null > "$inst/log/watcher.out" 2>&1 &
    echo $! > "$inst/watcher"
  fi
  log "started instance $name (logs in $inst/log), waiting for $tms TaskManager(s)"

  local deadline=$((SECONDS + timeout)) got pidfile
  while :; do
    got="$(overview "$rest_port")"
    if [ -n "$got" ] && [ "${got%% *}" -ge "$tms" ]; then break; fi
    for pidfile in "$inst"/*.pid; do
      if ! jvm_pid "$inst" "$pidfile" >/dev/null; then
        local role; role="$(basename "$pidfile" .pid)"
        log "$role exited; last lines of $inst/log/$role.{out,log}:"
        tail -n 30 "$inst/log/$role.out" "$inst/log/$role.log" >&2 2>/dev/null || true
        stop_instance "$inst"
        die "the cluster did not start"
      fi
    done
    if [ "$SECONDS" -ge "$deadline" ]; then
      stop_instance "$inst"
      die "no $tms TaskManager(s) registered within $timeout s (REST: ${got:-no answer}; logs in $inst/log)"
    fi
    sleep 0.5
  done
  read -r n_tm n_slots version <<< "$got"
  log "Flink $version session cluster up: $n_tm TaskManager(s), $n_slots slot(s);" \
      "REST API http://localhost:$rest_port (stop: $0 stop --name $name)"
  echo "localhost:$rest_port"
}

instance_port() {  # REST port from the instance's conf
  sed -n 's/^rest.port: //p' "$1/conf/flink-conf.yaml" 2>/dev/null || true
}

cmd_status() {
  local name=default
  while [ $# -gt 0 ]; do
    case "$1" in --name) name="$2"; shift 2 ;; *) usage ;; esac
  done
  local inst="$dir/instances/$name" port got jvms
  jvms="$(running "$inst")"
  port="$(instance_port "$inst")"
  got=""
  if [ -n "$port" ]; then got="$(overview "$port")"; fi
  if [ "$jvms" -eq 0 ] || [ -z "$got" ]; then
    log "instance $name: not running ($jvms JVM(s) alive)"
    exit 3
  fi
  read -r n_tm n_slots version <<< "$got"
  log "instance $name: Flink $version, $jvms JVM(s), $n_tm TaskManager(s), $n_slots slot(s)"
  echo "localhost:$port"
}

cmd_stop() {
  local name=default purge=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --name) name="$2"; shift 2 ;;
      --purge) purge=1; shift ;;
      *) usage ;;
    esac
  done
  local inst="$dir/instances/$name"
  [ -d "$inst" ] || { log "no instance $name"; return 0; }
  stop_instance "$inst"
  if [ "$purge" = 1 ]; then
    rm -rf "$inst"
    log "stopped and removed instance $name"
  else
    log "stopped instance $name (logs kept in $inst/log)"
  fi
}

cmd_watch() {  # internal: stop instance --name once --owner-pid has exited
  local name="" owner=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --name) name="$2"; shift 2 ;;
      --owner-pid) owner="$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  local inst="$dir/instances/$name"
  trap 'exit 0' TERM
  while alive "$owner"; do sleep 0.5; done
  [ "$(cat "$inst/owner" 2>/dev/null)" = "$owner" ] || exit 0   # stopped or restarted since
  log "owner (pid $owner) of instance $name has exited: stopping it"
  stop_instance "$inst"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  watch) shift; cmd_watch "$@" ;;
  fetch) ensure_classpath; log "classpath verified: $record" ;;
  update-checksums)
    mkdir -p "$dir"
    resolve "$dir/.jars.$$"
    verify_sha1 < "$dir/.jars.$$"
    (cd "$m2" && sort "$dir/.jars.$$" | xargs sha256sum) > "$sums"
    rm -f "$dir/.jars.$$" "$record"
    log "wrote $sums ($(wc -l < "$sums") jars); review and commit it" ;;
  *) usage ;;
esac
