"""Which float precision torch should compute in on this CPU (``NEWSBOT_PRECISION``).

bf16 autocast ran MiniLM 2-3.4x faster than fp32 on a CPU with AMX (output cosine 0.99998),
but on a CPU without native bf16 instructions it is emulated and slower than fp32. ``auto``
therefore picks bf16 only when the CPU reports AMX or AVX512-BF16.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Precision = Literal["auto", "fp32", "bf16"]
#: What a model call actually computes in, once ``auto`` is resolved.
ComputePrecision = Literal["fp32", "bf16"]

#: /proc/cpuinfo flags of CPUs that compute bf16 matrix products natively.
BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
_CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of the first CPU listed in a ``/proc/cpuinfo`` text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU (or the given cpuinfo text) computes bf16 natively."""
    if cpuinfo is None:
        try:
            cpuinfo = _CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:  # not Linux, or /proc hidden: assume the safe choice
            return False
    return bool(cpu_flags(cpuinfo) & BF16_CPU_FLAGS)


def resolve_precision(setting: Precision, cpuinfo: str | None = None) -> ComputePrecision:
    """``auto`` → bf16 where the CPU has it, else fp32; an explicit choice is kept."""
    if setting == "auto":
        return "bf16" if cpu_has_bf16(cpuinfo) else "fp32"
    return setting
