"""Reading what LAMMPS writes: thermo tables, text dumps, model-deviation files."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_thermo(log_path: str | Path) -> list[dict[str, np.ndarray]]:
    """Thermo tables of a LAMMPS log, one dict of columns per run."""
    runs, header, rows = [], None, []
    for line in Path(log_path).read_text(errors="replace").splitlines():
        words = line.split()
        if words[:1] == ["Step"]:
            header, rows = words, []
        elif header and line.startswith("Loop time"):
            runs.append({k: np.array([r[i] for r in rows]) for i, k in enumerate(header)})
            header = None
        elif header and len(words) == len(header):
            try:
                rows.append([float(w) for w in words])
            except ValueError:
                pass
    return runs


def read_loop_time(log_path: str | Path) -> float:
    """Seconds of the last completed run's loop ("Loop time of ...") in a LAMMPS log."""
    for line in reversed(Path(log_path).read_text(errors="replace").splitlines()):
        if line.startswith("Loop time of"):
            return float(line.split()[3])
    raise RuntimeError(f"no 'Loop time' in {log_path}: the run did not finish")


def read_task_timing(log_path: str | Path, section: str) -> dict[str, float]:
    """The last completed run's row of a section (Pair, Neigh, Comm, Output, Modify, Other) of
    LAMMPS's MPI task timing breakdown: average seconds over the ranks and percent of the loop."""
    for line in reversed(Path(log_path).read_text(errors="replace").splitlines()):
        cells = line.split("|")
        if len(cells) == 6 and cells[0].strip() == section:
            return {"seconds": float(cells[2]), "percent": float(cells[5])}
    raise RuntimeError(f"no '{section}' row of the timing breakdown in {log_path}: the run did not finish")


def read_dump(path: str | Path) -> list[dict[str, np.ndarray]]:
    """Frames of a LAMMPS text dump (``dump custom``), columns by name, sorted by id.

    Each frame also has ``step`` and ``cell`` (rows a, b, c of the box); text
    columns (``element``) stay strings. A last frame cut short (a run killed
    while writing) is left out.
    """
    return _parse_dump(Path(path).read_text().splitlines())


def read_dump_frame(path: str | Path, step: int) -> dict[str, np.ndarray] | None:
    """The frame of ``step`` in a text dump (as :func:`read_dump`), or None; the file is streamed."""
    for s, text in dump_frame_texts(path):
        if s == step:
            return _parse_dump(text.splitlines())[0]
    return None


def dump_frames(path: str | Path):
    """The complete frames of a text dump (as :func:`read_dump`), streamed one by one."""
    for _, text in dump_frame_texts(path):
        yield _parse_dump(text.splitlines())[0]


def dump_frame_texts(path: str | Path):
    """(step, text) of each complete frame of a text dump, streamed."""
    with open(path, errors="replace") as f:
        lines: list[str] = []
        for line in f:
            if line.startswith("ITEM: TIMESTEP") and lines:
                yield from _complete(lines)
                lines = []
            lines.append(line)
        if lines:
            yield from _complete(lines)


def _complete(lines: list[str]):
    try:
        natoms = int(lines[3])
        header = next(i for i, line in enumerate(lines) if line.startswith("ITEM: ATOMS"))
    except (IndexError, ValueError, StopIteration):
        return
    if len(lines) - header - 1 == natoms and lines[-1].endswith("\n"):
        yield int(lines[1]), "".join(lines)


def _parse_dump(lines: list[str]) -> list[dict[str, np.ndarray]]:
    frames = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("ITEM: TIMESTEP"):
            try:
                step, n = int(lines[i + 1]), int(lines[i + 3])
                j = i + 4
                cell, flags = None, None
                while not lines[j].startswith("ITEM: ATOMS"):
                    if lines[j].startswith("ITEM: BOX BOUNDS"):
                        cell = _box(lines[j], lines[j + 1:j + 4])
                        flags = lines[j].split()[-3:]    # pp, ff, fs, ...: p is periodic
                    j += 1
            except (IndexError, ValueError):
                break    # header cut short
            cols = lines[j].split()[2:]
            rows = [l.split() for l in lines[j + 1:j + 1 + n]]
            if len(rows) < n or len(rows[-1]) != len(cols):
                break    # frame cut short
            words = np.array(rows).reshape(n, len(cols))
            frame = {c: _column(words[:, k]) for k, c in enumerate(cols)}
            if "id" in frame:
                order = np.argsort(frame["id"])
                frame = {c: v[order] for c, v in frame.items()}
            frame["step"] = step
            frame["cell"] = cell
            frame["pbc"] = [f.startswith("p") for f in flags] if flags and len(flags) == 3 else None
            frames.append(frame)
            i = j + 1 + n
        else:
            i += 1
    return frames


MODEL_DEVI_COLUMNS = ("step", "max_devi_v", "min_devi_v", "avg_devi_v",
                      "max_devi_f", "min_devi_f", "avg_devi_f", "devi_e")


def read_model_devi(path: str | Path) -> dict[str, np.ndarray]:
    """A DeePMD-kit/DP-GEN ``model_devi.out`` file (as written by compute ennp/ensemble)."""
    data = np.loadtxt(path, comments="#", ndmin=2)
    if data.shape[1] != len(MODEL_DEVI_COLUMNS):
        raise ValueError(f"{path}: expected {len(MODEL_DEVI_COLUMNS)} columns "
                         f"({' '.join(MODEL_DEVI_COLUMNS)}), found {data.shape[1]}")
    out = {c: data[:, k] for k, c in enumerate(MODEL_DEVI_COLUMNS)}
    out["step"] = out["step"].astype(int)
    return out


def dump_to_atoms(path: str | Path, elements: list[str] | None, cell=None, pbc=True) -> list:
    """Frames of a ``dump custom`` with ``id type x y z`` (or xu yu zu) as ASE Atoms.

    A dump's ``element`` column names the atoms' elements; without one,
    ``elements[t-1]`` is the element of LAMMPS type t. ``atoms.info["unwrapped"]``
    says whether the positions were xu yu zu. Other per-atom columns (for example
    the deviation ``c_dev[1]``) are kept in ``atoms.arrays`` under their dump
    names. The box is read from the dump unless ``cell`` is given.
    """
    return [frame_to_atoms(path, frame, elements, cell, pbc) for frame in read_dump(path)]


def frame_to_atoms(path, frame: dict, elements, cell=None, pbc=True):
    """One frame of :func:`read_dump` as ASE Atoms (see :func:`dump_to_atoms`); ``pbc``
    None takes the periodicity from the dump's boundary flags."""
    from ase import Atoms

    xyz = [c if c in frame else c + "u" for c in ("x", "y", "z")]
    missing = [c for c in ["id", "type", *xyz] if c not in frame]
    if missing:
        raise ValueError(f"{path}: dump lacks column(s) {missing} at step {frame['step']}")
    if pbc is None:
        pbc = frame.get("pbc") or True
    atoms = Atoms(_dump_symbols(path, frame, elements), positions=np.stack([frame[c] for c in xyz], axis=1),
                  cell=frame["cell"] if cell is None else cell, pbc=pbc)
    atoms.info["step"] = frame["step"]
    atoms.info["unwrapped"] = xyz[0] == "xu"
    for name, values in frame.items():
        if name not in ("id", "type", "element", "step", "cell", "pbc", *xyz):
            atoms.arrays[name] = np.asarray(values)
    return atoms


def _dump_symbols(path, frame: dict, elements) -> list[str]:
    """Elements of a dump frame's atoms: its element column, or by type from ``elements``."""
    from ase.data import chemical_symbols

    if "element" in frame:
        symbols = frame["element"].tolist()
        unknown = sorted(set(symbols) - set(chemical_symbols[1:]))
        if unknown:
            raise ValueError(f"{path}: unknown element(s) {unknown}")
        return symbols
    if not elements:
        raise ValueError(f"{path}: the dump has no element column: give the elements of types 1, 2, ...")
    types = frame["type"].astype(int)
    if types.min() < 1 or types.max() > len(elements):
        raise ValueError(f"{path}: atom types {types.min()}..{types.max()} but {len(elements)} elements given")
    return [elements[t - 1] for t in types]


def _column(words: np.ndarray) -> np.ndarray:
    try:
        return words.astype(float)
    except ValueError:
        return words


def _box(header: str, bounds: list[str]) -> np.ndarray:
    """Cell matrix (rows a, b, c) from a dump's BOX BOUNDS item, triclinic or not."""
    rows = [[float(w) for w in line.split()] for line in bounds]
    if "xy" not in header:
        return np.diag([r[1] - r[0] for r in rows])
    # triclinic dumps give the bounding box and the tilts: recover the LAMMPS box
    xy, xz, yz = rows[0][2], rows[1][2], rows[2][2]
    xlo = rows[0][0] - min(0.0, xy, xz, xy + xz)
    xhi = rows[0][1] - max(0.0, xy, xz, xy + xz)
    ylo, yhi = rows[1][0] - min(0.0, yz), rows[1][1] - max(0.0, yz)
    lx, ly, lz = xhi - xlo, yhi - ylo, rows[2][1] - rows[2][0]
    return np.array([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]])
