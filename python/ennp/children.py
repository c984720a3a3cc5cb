"""Child processes end with ennp.

ennp runs its long work in child processes: nequip-train, LAMMPS (mpiexec and its ranks),
labelling workers, pw.x under ASE. Ctrl-C and Slurm signal all of them at once, but a
SIGTERM to ennp alone (``kill PID``) would leave them running, and a resumed run would then
race a leftover trainer writing into the same member folder. On SIGTERM, ennp therefore
terminates its descendants, gives them a moment, kills what is left, and then dies of the
signal as it always did (exit status 143 in a shell). The handler runs in the main thread
while ennp's other threads go on: one may start a child meanwhile (the next member's
training, as the one before it ends), so it looks again until no descendant is left.
"""

from __future__ import annotations

import os
import signal
import threading

import psutil

GRACE_S = 10.0    # seconds the descendants get to end after SIGTERM before SIGKILL
ROUNDS = 20       # looks for descendants started while the last ones were ended


def end_descendants(grace: float = GRACE_S, rounds: int = ROUNDS) -> None:
    """Terminate every descendant of this process; kill those still there after ``grace`` s.
    Again, up to ``rounds`` times, while a new look finds descendants started meanwhile."""
    for _ in range(rounds):
        try:
            children = psutil.Process().children(recursive=True)
        except psutil.Error:
            return
        if not children:
            return
        for child in children:
            try:
                child.terminate()
            except psutil.Error:    # ended already
                pass
        _, alive = psutil.wait_procs(children, timeout=grace)
        for child in alive:
            try:
                child.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=grace)


def _end_with_descendants(signum, frame) -> None:
    end_descendants(GRACE_S, ROUNDS)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def end_children_with_this_process() -> None:
    """From now on, a SIGTERM to this process ends its descendants first. Only the main
    thread can set a signal handler; elsewhere (ennp called from a thread) nothing changes."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _end_with_descendants)
