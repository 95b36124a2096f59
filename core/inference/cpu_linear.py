"""fp32 linear layers through oneDNN during CPU generation.

Why: PyTorch sends an fp32 nn.Linear on the CPU to MKL's sgemm, which on AMD CPUs takes a slow code path.
oneDNN, bundled with the same PyTorch, picks its kernels by instruction set rather than vendor: on a 2-core AMD
EPYC with AVX-512 it multiplies 32 rows by a 576x1536 weight at ~330 GFLOPS where MKL reaches ~160, and one row
by the 49,152-token vocabulary projection at ~31 where MKL reaches ~8. Both compute in fp32; only the order of
the sums differs, so results agree to the last bits (greedy answers stay the same but for rare near-ties).

Measured, not assumed: on a 2-core Intel Xeon (AVX-512, AMX) MKL's own path was as fast or faster, so the swap
happens only where `onednn_pays` measured oneDNN faster than MKL on the model's largest linear shapes (once per
process and shape). Plain Llama-family models on the CPU take the lean path instead (core/inference/slots.py),
which measures every kernel per shape; this scope serves the others (adapters, other architectures).

Scoped, not installed at load: training needs autograd (the oneDNN op has none), and code outside the
workbench's generation (a plain model.generate(), a benchmark's peer) keeps PyTorch's own path.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import torch

_lock = threading.Lock()
_USERS = "_workbench_onednn_users"
_available: bool | None = None


def onednn_available() -> bool:
    """True when this PyTorch has oneDNN's linear op and it gives F.linear's results (checked once)."""
    global _available
    if _available is None:
        try:
            # Fixed values, not torch.randn: the check must not move the global random state.
            x = torch.linspace(-1, 1, 96).reshape(3, 2, 16)
            w, b = torch.linspace(-2, 2, 128).reshape(8, 16), torch.linspace(0, 1, 8)
            got = torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
            _available = torch.backends.mkldnn.is_available() and torch.allclose(got, torch.nn.functional.linear(x, w, b),
                                                                                  atol=1e-5)
        except (AttributeError, RuntimeError):
            _available = False
    return _available


_pays: dict[tuple, bool] = {}


def onednn_pays(model, rows: int = 32) -> bool:
    """True when oneDNN multiplied `rows` rows by the model's two largest linear weights faster than MKL (by 5%),
    measured on this machine once per process and shapes."""
    shapes = sorted({tuple(m.weight.shape) for m in _linears(model)}, key=lambda s: -s[0] * s[1])[:2]
    if not shapes:
        return False
    key = (rows, torch.get_num_threads(), *shapes)
    with _lock:
        if key not in _pays:
            from core.inference.kernels import measure_linear

            seconds = {"mkl": 0.0, "onednn": 0.0}
            for out_features, in_features in shapes:
                rates = measure_linear(rows, in_features, out_features, ["mkl", "onednn"])
                for kernel in seconds:
                    seconds[kernel] += 2.0 * rows * in_features * out_features / rates[kernel]
            _pays[key] = seconds["onednn"] * 1.05 < seconds["mkl"]
        return _pays[key]


def _linears(model) -> list[torch.nn.Module]:
    """Plain fp32 CPU linear layers (quantised subclasses and layers with hooks of their own keep their forward)."""
    return [m for m in model.modules()
            if type(m) is torch.nn.Linear and "forward" not in m.__dict__
            and m.weight.device.type == "cpu" and m.weight.dtype is torch.float32]


def _onednn_forward(module: torch.nn.Linear):
    linear = torch.ops.mkldnn._linear_pointwise
    plain = type(module).forward

    def forward(x):
        if torch.is_grad_enabled() or x.dtype is not torch.float32:
            return plain(module, x)
        return linear(x, module.weight, module.bias, "none", [], "")

    forward.onednn = True
    return forward


@contextmanager
def onednn_linears(model):
    """Inside, the model's fp32 CPU linear layers run on oneDNN when autograd is off. Nests and may be entered by
    several threads at once: the last to leave restores PyTorch's path. Where MKL measured faster, nothing changes."""
    if not onednn_available() or not onednn_pays(model):
        yield
        return
    with _lock:
        if not getattr(model, _USERS, 0):
            for module in _linears(model):
                module.forward = _onednn_forward(module)
        setattr(model, _USERS, getattr(model, _USERS, 0) + 1)
    try:
        yield
    finally:
        with _lock:
            users = getattr(model, _USERS) - 1
            setattr(model, _USERS, users)
            if not users:
                for module in model.modules():
                    if getattr(module.__dict__.get("forward"), "onednn", False):
                        del module.forward
