"""Matrix-multiply kernels for CPU decoding, chosen by measuring them on the machine at hand.

PyTorch ships several CPU kernels for `x @ w.T`: MKL's sgemm (what `F.linear` calls for fp32), MKL's sgemm on a
weight packed once for the kernel (`mkl._mkl_linear`), and oneDNN (`mkldnn._linear_pointwise`). Which is fastest
depends on the CPU (MKL takes a slow path on AMD; on an Intel Xeon MKL's packed path led), the shape and the number
of rows, so nothing here decides by vendor: `choose_kernel` times each candidate at the decode step's real shapes
the first time they are needed in a process and keeps the winner (the same shapes are never measured twice).
All fp32 candidates compute in fp32 and differ only in the order of the sums.

Lower precision is a separate, explicit choice (`PRECISIONS`): bf16 weights (AMX or AVX-512 BF16 through oneDNN,
with fp32 accumulation) or int8 weight-only quantisation (one scale per output channel).
"""
from __future__ import annotations

import os
import threading
import time
from functools import lru_cache

import torch

PRECISIONS = ("fp32", "bf16", "int8")
FP32_KERNELS = ("mkl", "mkl_packed", "onednn")
_lock = threading.Lock()
_chosen: dict[tuple, str] = {}
_measured: dict[tuple, dict[str, float]] = {}
# Packed MKL weights take 2-4x the weight's memory: only for models whose fp32 weights are small.
PACKED_WEIGHT_LIMIT_BYTES = 1 << 30


@lru_cache(maxsize=1)
def cpu_description() -> dict:
    """The CPU's model name and the instruction-set flags that matter for these kernels."""
    name, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name == "unknown CPU":
                    name = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        import platform

        name = platform.processor() or name
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_bf16", "amx_int8",
              "amx_tile")
    return {"model": name, "flags": [f for f in wanted if f in flags], "cores": os.cpu_count() or 1,
            "threads": torch.get_num_threads()}


def bf16_supported() -> bool:
    """True when oneDNN has native bf16 kernels on this CPU (AVX-512 BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def check_precision(precision: str) -> str:
    from core.errors import InvalidInput

    if precision not in PRECISIONS:
        raise InvalidInput(f"'{precision}' is not a precision; choose one of {', '.join(PRECISIONS)}.")
    if precision == "bf16" and not bf16_supported():
        raise InvalidInput("This CPU has no bf16 kernels (AVX-512 BF16 or AMX); choose fp32 or int8.")
    return precision


def _onednn_works() -> bool:
    from core.inference.cpu_linear import onednn_available

    return onednn_available()


def _packed_works() -> bool:
    try:
        x, w = torch.linspace(-1, 1, 32).reshape(2, 16), torch.linspace(-2, 2, 128).reshape(8, 16)
        packed = torch.ops.mkl._mkl_reorder_linear_weight(w, 2)
        return torch.allclose(torch.ops.mkl._mkl_linear(x, packed, w, None, 2), x @ w.T, atol=1e-5)
    except (AttributeError, RuntimeError):
        return False


def available_kernels(weight_bytes: int = 0) -> list[str]:
    kernels = ["mkl"]
    if weight_bytes <= PACKED_WEIGHT_LIMIT_BYTES and _packed_works():
        kernels.append("mkl_packed")
    if _onednn_works():
        kernels.append("onednn")
    return kernels


def kernel_call(kernel: str, weight: torch.Tensor, bias: torch.Tensor | None, rows: int):
    """A function x -> x @ weight.T + bias on `kernel` (weights packed once, here, where the kernel wants it)."""
    if kernel == "mkl_packed":
        packed = torch.ops.mkl._mkl_reorder_linear_weight(weight, rows)
        op = torch.ops.mkl._mkl_linear
        linear = torch.nn.functional.linear

        def packed_call(x: torch.Tensor) -> torch.Tensor:
            count = x.shape[0]
            if count == rows:
                return op(x, packed, weight, bias, rows)
            if rows <= 3 * count < 3 * rows:
                # MKL runs other row counts on its plain path, which from a third of the rows up cost more than
                # the packed call at the full count, up to twice as much (2-core Xeon, the bundled model's layers
                # packed for 32 rows: 15 rows 634 us plain against 331 us padded): pad the rows instead.
                padded = x.new_zeros(rows, x.shape[1])
                padded[:count] = x
                return op(padded, packed, weight, bias, rows)[:count]
            return linear(x, weight, bias)

        return packed_call
    if kernel == "onednn":
        op = torch.ops.mkldnn._linear_pointwise
        return lambda x: op(x, weight, bias, "none", [], "")
    linear = torch.nn.functional.linear
    return lambda x: linear(x, weight, bias)


def _best_seconds(fn, x, repeats: int) -> float:
    fn(x)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - started)
    return best


def measure_linear(rows: int, in_features: int, out_features: int, kernels: list[str] | None = None,
                   repeats: int = 5) -> dict[str, float]:
    """GFLOPS of each fp32 kernel multiplying `rows` rows by an out x in weight (best of `repeats`, interleaved so
    that a busy moment of the machine hits every kernel alike)."""
    kernels = kernels or available_kernels(4 * in_features * out_features)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, in_features, generator=generator)
    w = torch.randn(out_features, in_features, generator=generator)
    calls = {k: kernel_call(k, w, None, rows) for k in kernels}
    seconds = {k: float("inf") for k in kernels}
    with torch.inference_mode():
        for _ in range(repeats):
            for k, fn in calls.items():
                seconds[k] = min(seconds[k], _best_seconds(fn, x, 1))
    flops = 2.0 * rows * in_features * out_features
    return {k: flops / s / 1e9 for k, s in seconds.items()}


def choose_kernel(rows: int, in_features: int, out_features: int, total_weight_bytes: int = 0) -> str:
    """The fastest fp32 kernel for this shape on this machine, measured once per process and shape."""
    key = (rows, in_features, out_features, torch.get_num_threads(), total_weight_bytes <= PACKED_WEIGHT_LIMIT_BYTES)
    with _lock:
        if key not in _chosen:
            rates = measure_linear(rows, in_features, out_features, available_kernels(total_weight_bytes), repeats=3)
            _measured[key] = rates
            # MKL's plain path is PyTorch's own: another kernel must beat it by 5% to be worth a different order of sums.
            best = max(rates, key=rates.get)
            _chosen[key] = best if rates[best] > 1.05 * rates["mkl"] else "mkl"
        return _chosen[key]


def measurements() -> list[dict]:
    """What choose_kernel measured in this process: shape, GFLOPS per kernel, the choice."""
    return [{"rows": k[0], "in": k[1], "out": k[2], "threads": k[3], "gflops": {n: round(v, 1) for n, v in r.items()},
             "chosen": _chosen[k]} for k, r in _measured.items()]


def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 weight-only quantisation, one scale per output channel: (int8 weight, fp32 scales)."""
    scales = weight.abs().amax(dim=1).clamp(min=1e-8) / 127.0
    q = torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8)
    return q.contiguous(), scales.float()
