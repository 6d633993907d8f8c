# shellcheck shell=bash
# Memory cgroup helpers for the measuring scripts (sourced, not run). A server measured in
# its own memory cgroup has exactly its own kernel memory charged there, which the
# system-wide slab figures on a shared machine cannot give (DESIGN.md section 5).
#
#   cg_setup NAME     creates the group (v1 memory hierarchy if mounted, else cgroup v2)
#                     and turns TCP accounting on; sets CG_VERSION and CG_DIR
#   cg_exec CMD...    replaces the calling shell with CMD inside the group (the shell joins
#                     before exec): call it as a background job, `cg_exec CMD... &`, and $!
#                     is CMD's PID
#   cg_kernel_bytes   prints "SLAB TCP": v1 memory.kmem.usage_in_bytes and
#                     memory.kmem.tcp.usage_in_bytes; v2 memory.stat's slab and sock
#   cg_kill_rest      SIGKILLs whatever is still in the group (what the measured process
#                     started and left behind); the group holds only what cg_exec started
#   cg_remove         removes the group (its processes must be gone)

CG_VERSION=""
CG_DIR=""

cg_die() { echo "cgroup: $*" >&2; return 1; }

cg_v2_root() {
  # /sys/fs/cgroup itself on a pure v2 system, or the unified mount of a hybrid one.
  local d
  for d in /sys/fs/cgroup /sys/fs/cgroup/unified; do
    [[ "$(stat -f -c %T "$d" 2>/dev/null)" == cgroup2fs ]] && { echo "$d"; return 0; }
  done
  return 1
}

cg_setup() {
  local name=$1 v1=/sys/fs/cgroup/memory root
  if [[ -f $v1/memory.kmem.usage_in_bytes ]]; then
    CG_VERSION=1
    CG_DIR=$v1/$name
    mkdir "$CG_DIR" || cg_die "cannot create $CG_DIR" || return 1
    # cgroup v1 charges TCP buffers to a group only once a TCP limit has been written to it,
    # and only for sockets created afterwards: write a limit nothing will reach, now.
    echo 1T > "$CG_DIR/memory.kmem.tcp.limit_in_bytes" ||
      cg_die "cannot enable TCP accounting in $CG_DIR" || return 1
  elif root=$(cg_v2_root) && grep -qw memory "$root/cgroup.controllers"; then
    CG_VERSION=2
    CG_DIR=$root/$name
    # Children of the root get the memory controller only if the root hands it down.
    grep -qw memory "$root/cgroup.subtree_control" ||
      echo +memory > "$root/cgroup.subtree_control" ||
      cg_die "cannot enable the memory controller under $root" || return 1
    mkdir "$CG_DIR" || cg_die "cannot create $CG_DIR" || return 1
  else
    cg_die "no memory cgroup: need cgroup v1 with kmem accounting at $v1, or cgroup v2 with the memory controller"
    return 1
  fi
}

cg_exec() {
  # exec all the way down: the background job's PID becomes the sh's, then CMD's.
  exec sh -c 'echo $$ > "$1" && shift && exec "$@"' sh "$CG_DIR/cgroup.procs" "$@"
}

cg_kernel_bytes() {
  if [[ $CG_VERSION == 1 ]]; then
    echo "$(<"$CG_DIR/memory.kmem.usage_in_bytes") $(<"$CG_DIR/memory.kmem.tcp.usage_in_bytes")"
  else
    # "slab" is the sum of slab_reclaimable and slab_unreclaimable (kernels >= 5.9 print it).
    awk '$1 == "slab" { s = $2; have = 1 }
         $1 == "slab_reclaimable" || $1 == "slab_unreclaimable" { r += $2 }
         $1 == "sock" { k = $2 }
         END { printf "%d %d\n", have ? s : r, k }' "$CG_DIR/memory.stat"
  fi
}

cg_kill_rest() {
  [[ -n $CG_DIR && -f $CG_DIR/cgroup.procs ]] || return 0
  local pid
  while read -r pid; do
    if [[ -n $pid ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
  done < "$CG_DIR/cgroup.procs"
}

cg_remove() {
  [[ -n $CG_DIR && -d $CG_DIR ]] || return 0
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -z $(<"$CG_DIR/cgroup.procs") ]] && break
    sleep 0.1
  done
  rmdir "$CG_DIR" 2>/dev/null || { cg_die "could not remove $CG_DIR (processes left: $(tr '\n' ' ' < "$CG_DIR/cgroup.procs"))"; return 1; }
  CG_DIR=""
}
