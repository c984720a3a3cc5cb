"""A real one-node Slurm cluster on loopback for the tests (Debian slurm-wlm + munge, root).

munged, slurmctld and slurmd run with a slurm.conf in a scratch folder, on free
ports, as root; ``env()`` gives the SLURM_CONF that sbatch/squeue/scontrol need.
Without accounting (no slurmdbd): ``scontrol show job`` reports finished jobs
for MinJobAge seconds.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

CONF = """\
ClusterName=ennp-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
JobRequeue=1
MinJobAge=600
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerParameters=sched_interval=1
DefMemPerCPU=1000
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackSlurm:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self._munged = None

    def env(self) -> dict:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), env=self.env(), capture_output=True, text=True, check=check)

    def start(self, timeout: float = 60.0) -> "LoopbackSlurm":
        missing = [b for b in ("munged", "slurmctld", "slurmd", "sbatch") if not shutil.which(b)
                   and not Path(f"/usr/sbin/{b}").exists()]
        if missing or os.geteuid() != 0:
            raise RuntimeError(f"the loopback Slurm needs root and slurm-wlm + munge ({missing or 'not root'}; "
                               "apt-get install slurm-wlm munge, as .ci/run does)")
        self._start_munge()
        for d in ("state", "spool"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        node = subprocess.run(["/usr/sbin/slurmd", "-C"], capture_output=True, text=True, check=True).stdout
        fields = dict(w.split("=", 1) for w in node.split() if "=" in w)
        memory = int(int(fields["RealMemory"]) * 0.9)
        self.host = socket.gethostname()
        self.conf.write_text(CONF.format(host=self.host, root=self.root, ctld_port=_free_port(), d_port=_free_port(),
                                         cpus=fields["CPUs"], memory=memory))
        subprocess.run(["/usr/sbin/slurmctld", "-f", str(self.conf)], env=self.env(), check=True)
        subprocess.run(["/usr/sbin/slurmd", "-f", str(self.conf)], env=self.env(), check=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.run("sinfo", "-h", "-o", "%T", check=False).stdout.strip()
            if state in ("idle", "mixed", "allocated"):
                return self
            time.sleep(0.5)
        raise RuntimeError(f"the loopback Slurm did not come up (node state {state!r}); logs in {self.root}")

    def _start_munge(self) -> None:
        if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0:
            return    # a munged is already running
        run_dir = Path("/run/munge")
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True)
        self._munged = True

    def wait(self, job: str, timeout: float = 300.0) -> str:
        """Wait until ``job`` (an id, or id_task) leaves the queue; its final state."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.state(job)
            if state not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"):
                return state
            time.sleep(0.5)
        raise TimeoutError(f"job {job} still {state} after {timeout} s")

    def state(self, job: str) -> str:
        out = self.run("scontrol", "show", "job", "-o", job, check=False).stdout
        states = [w.split("=", 1)[1] for w in out.split() if w.startswith("JobState=")]
        return states[0] if len(set(states)) == 1 else ",".join(states) if states else "UNKNOWN"

    def stop(self) -> None:
        self.run("scontrol", "shutdown", check=False)
        for name in ("slurmd.pid", "slurmctld.pid"):
            pid_file = self.root / name
            if pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text().strip()), 15)
                except (ProcessLookupError, ValueError):
                    pass
        if self._munged:
            subprocess.run(["pkill", "-x", "munged"], check=False)
