"""GPU probe that runs nvidia-smi on the host or in a CUDA container."""
