"""The state file of an active-learning run: which steps of which generation are done.

Written atomically after each finished step, so a run killed at any point
resumes at the first unfinished step (finished pieces inside a step - trained
members, labelled structures, exploration runs - are kept by the steps
themselves). One run at a time per work directory (an flock on WORK/.lock).
"""

from __future__ import annotations

import fcntl
import json
from contextlib import contextmanager
from pathlib import Path

from ..files import write_json


def gen_dir(workdir: Path, gen: int) -> Path:
    return Path(workdir) / f"gen_{gen:03d}"


def generation_seconds(gen: dict) -> dict[str, float]:
    """Where a generation's time went: train, deploy, explore, label seconds (finished steps)."""
    d, spent = gen["done"], {}
    spent.update(d.get("train", {}).get("seconds", {}))
    for step in ("explore", "label"):
        if "seconds" in d.get(step, {}):
            spent[step] = d[step]["seconds"]
    return spent


class State:
    def __init__(self, workdir: str | Path):
        self.path = Path(workdir) / "state.json"
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path.parent} is not an active-learning run "
                                    f"(no state.json; start one with `ennp al init`)")
        self.data = json.loads(self.path.read_text())

    @classmethod
    def create(cls, workdir: Path, **fields) -> "State":
        path = Path(workdir) / "state.json"
        write_json(path, {"generations": [], "finished": None, **fields})
        return cls(workdir)

    def generation(self, gen: int) -> dict:
        gens = self.data["generations"]
        while len(gens) <= gen:
            gens.append({"generation": len(gens), "done": {}})
        return gens[gen]

    def done(self, gen: int, step: str) -> dict | None:
        """The recorded result of a finished step, or None."""
        gens = self.data["generations"]
        return gens[gen]["done"].get(step) if gen < len(gens) else None

    def mark(self, gen: int, step: str, result: dict) -> None:
        self.generation(gen)["done"][step] = result
        self.save()

    def set(self, **fields) -> None:
        self.data.update(fields)
        self.save()

    def save(self) -> None:
        write_json(self.path, self.data)


@contextmanager
def exclusive(workdir: Path):
    """Hold WORK/.lock for the duration; a second run on the same directory is refused."""
    lock = open(Path(workdir) / ".lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RuntimeError(f"another `ennp al run` is working in {workdir}") from None
    try:
        yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()

