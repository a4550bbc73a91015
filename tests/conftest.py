"""Shared test set-up: the ``gpu``-marked tests run with TF32 off.

On Ampere and later GPUs cuDNN convolutions use TF32 (a 10-bit mantissa) by default, so a test
that demands identical spikes on the CPU and the GPU with random weights would fail for that
reason alone; the GPU check times its speed sections with TF32 on and records it
(tools/gpu/gpu_check.py).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _gpu_tests_without_tf32(request):
    """For a test marked ``gpu``: TF32 off in CUDA matmuls and cuDNN during the test, restored
    after it."""
    if request.node.get_closest_marker("gpu") is None:
        yield
        return
    import torch

    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
