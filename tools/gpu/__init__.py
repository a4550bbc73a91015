"""The GPU check (``gpu_check``), the wheel bundle it installs on a bare CUDA machine
(``gpu_bundle``) and the list of the machine image's packages (``gpu_image.txt``)."""
