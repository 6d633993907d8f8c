#!/usr/bin/python3
"""Runs a command under a seccomp filter that refuses some system calls with an errno, the
way container runtimes refuse io_uring (DESIGN.md, "io_uring rules"):

    seccomp_exec.py --deny io_uring_setup,io_uring_enter,io_uring_register --errno EPERM -- CMD ARGS...

Every other system call is allowed. EPERM is what Docker 25+'s default profile answers for
io_uring; ENOSYS is what podman's default profile answers for the system calls it does not
list, io_uring's among them. The filter survives exec and is inherited by children, so CMD
and everything it starts run under it.

Needs Debian's python3-seccomp (libseccomp's bindings): run it with /usr/bin/python3.
Exit status: CMD's (this process becomes CMD); 2 on bad usage; 125 if the filter could not be
loaded; 126 if CMD cannot be executed; 127 if CMD is not found.
"""

import argparse
import errno
import os
import sys

EXIT_USAGE, EXIT_FILTER, EXIT_NOEXEC, EXIT_NOTFOUND = 2, 125, 126, 127


def errno_value(text):
    """EPERM, ENOSYS, ... or a number."""
    if text.isdigit():
        return int(text)
    value = getattr(errno, text.upper(), None)
    if not isinstance(value, int) or not text.upper().startswith("E"):
        raise argparse.ArgumentTypeError(f"unknown errno {text!r} (use a name such as EPERM, or a number)")
    return value


def parse(argv):
    if "--" not in argv:
        own, command = argv, []
    else:
        at = argv.index("--")
        own, command = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(
        prog="seccomp_exec.py",
        description="Run CMD with the listed system calls answering ERRNO (everything else allowed).",
        usage="%(prog)s --deny SYSCALL[,SYSCALL...] [--errno EPERM] -- CMD [ARGS...]")
    parser.add_argument("--deny", required=True,
                        help="comma-separated system call names, e.g. io_uring_setup,io_uring_enter")
    parser.add_argument("--errno", default="EPERM", type=errno_value, dest="err",
                        help="the error the denied calls return: a name (EPERM, ENOSYS) or a number (default EPERM)")
    args = parser.parse_args(own)
    args.syscalls = [s.strip() for s in args.deny.split(",") if s.strip()]
    if not args.syscalls:
        parser.error("--deny names no system call")
    if not command:
        parser.error("no command given after --")
    args.command = command
    return args


def load_filter(syscalls, err):
    import seccomp  # Debian's python3-seccomp

    # Allow by default: only the listed calls change. no_new_privs is set by libseccomp
    # (needed unless the caller has CAP_SYS_ADMIN).
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in syscalls:
        # An unknown name resolves to a negative number (libseccomp's __NR_SCMP_ERROR).
        if seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) < 0:
            raise ValueError(f"unknown system call {name!r} (to this libseccomp)")
        f.add_rule(seccomp.ERRNO(err), name)
    f.load()


def main(argv):
    args = parse(argv)
    try:
        load_filter(args.syscalls, args.err)
    except ImportError:
        print("seccomp_exec: python3-seccomp is missing (apt-get install python3-seccomp; run with /usr/bin/python3)",
              file=sys.stderr)
        return EXIT_FILTER
    except (ValueError, OSError, RuntimeError) as e:
        print(f"seccomp_exec: cannot load the filter: {e}", file=sys.stderr)
        return EXIT_FILTER
    try:
        os.execvp(args.command[0], args.command)
    except FileNotFoundError:
        print(f"seccomp_exec: {args.command[0]}: command not found", file=sys.stderr)
        return EXIT_NOTFOUND
    except OSError as e:
        print(f"seccomp_exec: {args.command[0]}: {e.strerror}", file=sys.stderr)
        return EXIT_NOEXEC


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
