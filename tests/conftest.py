"""Shared test set-up: the ``gpu``-marked tests run with TF32 off; ``browser``, a headless
chromium for the web pages' tests.

On Ampere and later GPUs cuDNN convolutions use TF32 (a 10-bit mantissa) by default, so a test
that demands identical spikes on the CPU and the GPU with random weights would fail for that
reason alone; the GPU check times its speed sections with TF32 on and records it
(tools/gpu/gpu_check.py).
"""

from __future__ import annotations

import os
import shutil

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


@pytest.fixture
def browser():
    """A headless chromium WebDriver (Debian's chromium + chromium-driver through selenium,
    installed by .ci/publish_deps.sh), quit after the test; skips (fails under CI) naming what
    is missing."""
    missing = []
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package")
    binary = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"))
                   if p), None)
    driver = shutil.which("chromedriver")
    if binary is None:
        missing.append("chromium")
    if driver is None:
        missing.append("chromium-driver (chromedriver)")
    if missing:
        msg = f"{', '.join(missing)} not installed; run .ci/publish_deps.sh"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    opts = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--disable-extensions"):
        opts.add_argument(arg)
    opts.binary_location = binary
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    d = webdriver.Chrome(service=Service(driver), options=opts)
    try:
        yield d
    finally:
        d.quit()
