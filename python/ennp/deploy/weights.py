"""Deploy further members of one architecture by swapping a compiled package's weights.

An AOTInductor package (``.nequip.pt2``) is generated C++ (kernels and a
wrapper), the shared object compiled from it and a metadata JSON. The model's
tensors (parameters, buffers, tensor attributes) are data, not code:
AOTInductor writes them as one blob into the shared object, between the ELF
symbols ``_binary_constants_bin_start`` and ``_end``, each constant's bytes
padded to 64 in the order of the wrapper's ``constants_info_``. Members of one
architecture compile to the same code, so a further member's package is the
first member's with its own tensors written into that blob.

Which blob slot holds which module tensor is found by value on the compiled
member (its tensors must each be found, and unambiguously). A tensor in no
slot was compiled into the code: a further member must have the same value
there. A swapped package is only kept after nequip's own check of a compiled
model against the eager one passes; otherwise the member is compiled from
scratch.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .package import updated_metadata

ALIGN_BYTES = 64       # torch._inductor.utils.ALIGN_BYTES: CPU constants are padded to this
BLOB_START = b"_binary_constants_bin_start"
BLOB_END = b"_binary_constants_bin_end"
SLOTS_FILE = "slots.json"
FIXED_FILE = "fixed.pt"
TEMPLATE_NAME = "template.nequip.pt2"


class WeightSwapError(ValueError):
    """The package or the model does not allow a weight swap (compile instead)."""


@dataclass(frozen=True)
class ConstantSlot:
    """One constant of the compiled model, as the wrapper's ``constants_info_`` lists it."""
    name: str
    data_size: int          # bytes of its storage, which may exceed the tensor's
    shape: tuple[int, ...]
    offset: int             # storage offset


_INFO = re.compile(r"constants_info_\[(\d+)\]\.(name|data_size|shape|offset) = (.+);")


def constant_slots(wrapper_cpp: str) -> list[ConstantSlot]:
    """The constants of a generated AOTInductor wrapper, in blob order."""
    fields: dict[int, dict] = {}
    for index, key, value in _INFO.findall(wrapper_cpp):
        fields.setdefault(int(index), {})[key] = value
    slots = []
    for index in sorted(fields):
        f = fields[index]
        shape = tuple(int(s) for s in f["shape"].strip("{} ").split(",") if s.strip())
        slots.append(ConstantSlot(f["name"].strip('"'), int(f["data_size"]), shape,
                                  int(f["offset"])))
    return slots


def slot_offsets(slots: list[ConstantSlot]) -> list[int]:
    offsets, at = [], 0
    for slot in slots:
        offsets.append(at)
        at += (slot.data_size + ALIGN_BYTES - 1) // ALIGN_BYTES * ALIGN_BYTES
    return offsets


def blob_span(so: bytes) -> tuple[int, int]:
    """File offsets of the constants blob in an ELF64 little-endian shared object."""
    if so[:4] != b"\x7fELF" or so[4] != 2 or so[5] != 1:
        raise WeightSwapError("the compiled model is not an ELF64 little-endian shared object")
    shoff, = struct.unpack_from("<Q", so, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", so, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", so, shoff + i * shentsize) for i in range(shnum)]
    found = {}
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != 2 or entsize == 0:      # SHT_SYMTAB
            continue
        strtab = sections[link][4]
        for at in range(offset, offset + size, entsize):
            st_name, _, _, shndx, value, _ = struct.unpack_from("<IBBHQQ", so, at)
            name = so[strtab + st_name: so.index(b"\0", strtab + st_name)]
            if name in (BLOB_START, BLOB_END) and 0 < shndx < shnum:
                sec = sections[shndx]
                found[name] = value - sec[3] + sec[4]    # address -> file offset
    if len(found) != 2:
        raise WeightSwapError("the compiled model has no constants blob symbols "
                              "(weights stored outside the shared object)")
    return found[BLOB_START], found[BLOB_END]


def module_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every tensor a trace can capture: parameters, buffers and plain tensor attributes."""
    tensors = {}
    for prefix, module in model.named_modules():
        for key, value in vars(module).items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{key}" if prefix else key] = value
        for key, value in list(module._parameters.items()) + list(module._buffers.items()):
            if value is not None:
                tensors[f"{prefix}.{key}" if prefix else key] = value
    return tensors


def tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().cpu().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


def _package_parts(package: Path) -> tuple[str, str, str]:
    """Names of the wrapper source, the shared object and the metadata JSON in the zip."""
    with zipfile.ZipFile(package) as z:
        names = z.namelist()
    found = [[n for n in names if n.endswith(suffix)]
             for suffix in (".wrapper.cpp", ".wrapper.so", ".wrapper_metadata.json")]
    if any(len(f) != 1 for f in found):
        raise WeightSwapError(f"{package}: not a single-model AOTInductor package")
    return found[0][0], found[1][0], found[2][0]


def match_slots(package: Path, tensors: dict[str, torch.Tensor]) -> list[list[str]]:
    """For each constant of ``package``, the names of the tensors whose bytes it holds.

    ``tensors`` are those of the model the package was compiled from. Raises
    WeightSwapError where a constant matches no tensor.
    """
    cpp, so_name, _ = _package_parts(package)
    with zipfile.ZipFile(package) as z:
        slots = constant_slots(z.read(cpp).decode())
        so = z.read(so_name)
    start, end = blob_span(so)
    names = []
    for slot, offset in zip(slots, slot_offsets(slots)):
        if start + offset + slot.data_size > end or slot.offset != 0:
            raise WeightSwapError(f"{package}: constant {slot.name} is not a plain blob slot")
        at = start + offset
        found = [n for n, t in tensors.items()
                 if tuple(t.shape) == slot.shape and t.numel() * t.element_size() <= slot.data_size
                 and tensor_bytes(t) == so[at: at + t.numel() * t.element_size()]]
        if not found:
            raise WeightSwapError(f"{package}: constant {slot.name} {slot.shape} is none of "
                                  "the model's tensors (computed at compile time)")
        names.append(found)
    return names


def swap_weights(template: Path, names: list[list[str]], fixed: dict[str, torch.Tensor],
                 tensors: dict[str, torch.Tensor], out: Path, metadata: dict[str, str | None]) -> Path:
    """Write ``template`` to ``out`` with ``tensors`` in its constants and ``metadata`` updated
    (a key whose value is None is removed).

    ``fixed`` are the template model's tensors in no slot (compiled into the code).
    """
    for name, value in fixed.items():
        if name not in tensors or tensor_bytes(tensors[name]) != tensor_bytes(value):
            raise WeightSwapError(f"{name} is compiled into the template's code and differs")
    cpp, so_name, _ = _package_parts(template)
    with zipfile.ZipFile(template) as z:
        slots = constant_slots(z.read(cpp).decode())
        so = bytearray(z.read(so_name))
        entries = [(info, z.read(info.filename)) for info in z.infolist()]
    if len(slots) != len(names):
        raise WeightSwapError(f"{template}: {len(slots)} constants, {len(names)} matched")
    start, _ = blob_span(bytes(so))
    for slot, offset, candidates in zip(slots, slot_offsets(slots), names):
        missing = [n for n in candidates if n not in tensors]
        if missing:
            raise WeightSwapError(f"the model has no tensor {missing[0]}")
        values = {tensor_bytes(tensors[n]) for n in candidates}
        if len(values) != 1:
            raise WeightSwapError(f"constant {slot.name} is ambiguous: {candidates} differ")
        data = values.pop()
        if len(data) > slot.data_size or tuple(tensors[candidates[0]].shape) != slot.shape:
            raise WeightSwapError(f"tensor {candidates[0]} has another shape or dtype")
        so[start + offset: start + offset + len(data)] = data
    part = out.with_name(f".{out.name}.part-{os.getpid()}")
    with zipfile.ZipFile(part, "w") as z:
        for info, data in entries:
            if info.filename == so_name:
                data = bytes(so)
            elif info.filename.endswith("_metadata.json"):    # wrapper and kernel metadata: loaders read either
                data = updated_metadata(data, metadata)
            z.writestr(info, data)
    os.replace(part, out)
    return out


def save_template(package: Path, tensors: dict[str, torch.Tensor], folder: Path) -> None:
    """Keep ``package`` and its slot-to-tensor map in ``folder`` for later swaps."""
    names = match_slots(package, tensors)
    covered = {n for candidates in names for n in candidates}
    fixed = {n: t.detach().cpu().clone() for n, t in tensors.items() if n not in covered}
    (folder / TEMPLATE_NAME).write_bytes(package.read_bytes())
    (folder / SLOTS_FILE).write_text(json.dumps(names))
    torch.save(fixed, folder / FIXED_FILE)


def load_template(folder: Path) -> tuple[Path, list[list[str]], dict[str, torch.Tensor]]:
    """The template package, its slot-to-tensor map and its tensors compiled into code."""
    return (folder / TEMPLATE_NAME, json.loads((folder / SLOTS_FILE).read_text()),
            torch.load(folder / FIXED_FILE, weights_only=True))
