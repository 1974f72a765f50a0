#!/usr/bin/env bash
# A systemd user manager of mrsm's tests' own, in a directory of its own. PID 1 here
# is not systemd, so the manager runs in a private mount namespace whose
# /run/systemd holds the `system` marker (a machine booted with systemd, as seen
# from inside), in cgroups created for it under /sys/fs/cgroup/{systemd,unified,
# pids,cpu,memory}, with its XDG directories in DIR.
#
#   manager.sh check            say why a manager cannot run here (exit 1), or nothing
#   manager.sh start DIR [PID]  start one, wait until it answers `running` or
#                               `degraded`; with PID, stop it when that process ends
#   manager.sh run DIR CMD...   run CMD inside the manager's namespace, with its
#                               XDG_RUNTIME_DIR and XDG_CONFIG_HOME (where systemctl
#                               --user finds it; outside, it says `offline`)
#   manager.sh kill DIR         a power loss: SIGKILL the manager and every process
#                               in its cgroups, leave the cgroups and DIR
#   manager.sh stop DIR         stop the manager by its pid, kill what is left in its
#                               cgroups, remove them
#
# Only what `start DIR` created is touched: the pid in DIR/manager.pid (when its
# command line is the manager's) and the cgroups named in DIR/cgroup.
set -euo pipefail

HIERARCHIES="systemd unified pids cpu memory"
MANAGER=/lib/systemd/systemd

check() {
    if [ "$(id -u)" != 0 ]; then
        echo "manager.sh: a user manager in a namespace of its own needs root (unshare, cgroups)" >&2
        return 1
    fi
    if [ ! -x "$MANAGER" ]; then
        echo "manager.sh: $MANAGER is missing (apt-get install systemd)" >&2
        return 1
    fi
    for tool in unshare nsenter systemctl; do
        command -v "$tool" >/dev/null 2>&1 || {
            echo "manager.sh: $tool is missing" >&2
            return 1
        }
    done
    for h in $HIERARCHIES; do
        if [ ! -w "/sys/fs/cgroup/$h" ]; then
            echo "manager.sh: /sys/fs/cgroup/$h is missing or not writable" >&2
            return 1
        fi
    done
}

# The manager's pid, when DIR/manager.pid names a live manager started for DIR.
manager_pid() {
    local dir=$1 pid
    pid=$(cat "$dir/manager.pid" 2>/dev/null || true)
    [ -n "$pid" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--user" || return 1
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx -- "XDG_RUNTIME_DIR=$dir/runtime" || return 1
    echo "$pid"
}

in_namespace() {
    local dir=$1 pid
    shift
    pid=$(manager_pid "$dir") || {
        echo "manager.sh: no manager runs for $dir" >&2
        return 1
    }
    nsenter -t "$pid" -m env XDG_RUNTIME_DIR="$dir/runtime" XDG_CONFIG_HOME="$dir/config" \
        XDG_STATE_HOME="$dir/state" XDG_CACHE_HOME="$dir/cache" "$@"
}

# Every process in the manager's cgroups (and theirs below).
members() {
    local dir=$1 name
    name=$(cat "$dir/cgroup" 2>/dev/null || true)
    [ -n "$name" ] || return 0
    for h in $HIERARCHIES; do
        [ -d "/sys/fs/cgroup/$h/$name" ] || continue
        find "/sys/fs/cgroup/$h/$name" -name cgroup.procs -exec cat {} + 2>/dev/null || true
    done | sort -u
}

kill_members() {
    local dir=$1 pid
    for _ in $(seq 1 50); do
        local left
        left=$(members "$dir")
        [ -n "$left" ] || return 0
        for pid in $left; do
            kill -KILL "$pid" 2>/dev/null || true
        done
        sleep 0.05
    done
}

remove_cgroups() {
    local dir=$1 name
    name=$(cat "$dir/cgroup" 2>/dev/null || true)
    [ -n "$name" ] || return 0
    case "$name" in
        mrsm-test-*) ;;
        *) echo "manager.sh: $dir/cgroup names $name, not a test's cgroup" >&2; return 1 ;;
    esac
    for h in $HIERARCHIES; do
        [ -d "/sys/fs/cgroup/$h/$name" ] || continue
        find "/sys/fs/cgroup/$h/$name" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    rm -f "$dir/cgroup"
}

power_loss() {
    local dir=$1 pid
    if pid=$(manager_pid "$dir"); then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    kill_members "$dir"
    rm -f "$dir/manager.pid"
}

stop() {
    local dir=$1 pid
    if pid=$(manager_pid "$dir"); then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 200); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    kill_members "$dir"
    remove_cgroups "$dir"
    rm -f "$dir/manager.pid"
}

start() {
    local dir watch name
    dir=$(realpath -m "$1")
    watch=${2:-}
    check
    mkdir -p "$dir/runtime" "$dir/config" "$dir/state" "$dir/cache"
    chmod 0700 "$dir/runtime"
    # A cgroup of the same name in every hierarchy, kept when the manager dies
    # (a power loss), so a new manager for DIR starts in it again.
    name=$(cat "$dir/cgroup" 2>/dev/null || true)
    if [ -z "$name" ]; then
        name="mrsm-test-$(basename "$dir")-$$"
        echo "$name" >"$dir/cgroup"
    fi
    for h in $HIERARCHIES; do
        mkdir -p "/sys/fs/cgroup/$h/$name"
    done
    cat >"$dir/enter.sh" <<ENTER
#!/bin/sh
set -e
mount -t tmpfs -o mode=0755 tmpfs /run/systemd
mkdir -p /run/systemd/system
for h in $HIERARCHIES; do echo \$\$ >"/sys/fs/cgroup/\$h/$name/cgroup.procs"; done
export XDG_RUNTIME_DIR="$dir/runtime" XDG_CONFIG_HOME="$dir/config"
export XDG_STATE_HOME="$dir/state" XDG_CACHE_HOME="$dir/cache"
exec $MANAGER --user
ENTER
    chmod 0755 "$dir/enter.sh"
    # unshare execs the script, which execs the manager: one pid throughout.
    setsid unshare --mount --propagation private "$dir/enter.sh" \
        </dev/null >"$dir/manager.log" 2>&1 &
    echo $! >"$dir/manager.pid"
    local state=""
    for _ in $(seq 1 200); do
        state=$(in_namespace "$dir" systemctl --user is-system-running 2>/dev/null || true)
        case "$state" in
            running | degraded) break ;;
        esac
        sleep 0.05
    done
    case "$state" in
        running | degraded) ;;
        *)
            echo "manager.sh: the user manager did not come up (state: ${state:-none}); log in $dir/manager.log" >&2
            stop "$dir"
            return 1
            ;;
    esac
    if [ -n "$watch" ]; then
        # Stops the manager once the process that asked for it has ended.
        (
            while kill -0 "$watch" 2>/dev/null; do sleep 0.5; done
            stop "$dir"
        ) </dev/null >/dev/null 2>&1 &
        disown
    fi
}

case "${1:-}" in
    check) check ;;
    start) start "${2:?usage: manager.sh start DIR [PID]}" "${3:-}" ;;
    run)
        dir=$(realpath -m "${2:?usage: manager.sh run DIR CMD...}")
        shift 2
        in_namespace "$dir" "$@"
        ;;
    kill) power_loss "$(realpath -m "${2:?usage: manager.sh kill DIR}")" ;;
    stop) stop "$(realpath -m "${2:?usage: manager.sh stop DIR}")" ;;
    *)
        echo "usage: manager.sh check | start DIR [PID] | run DIR CMD... | kill DIR | stop DIR" >&2
        exit 2
        ;;
esac
