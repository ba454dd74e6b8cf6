# Sourced by the GPU scripts: is there an NVIDIA GPU and driver here?
# Sets GPU_MISSING to a sentence saying what is missing, or leaves it empty.
GPU_MISSING=
if [ ! -e /dev/nvidiactl ] && ! ls /dev/nvidia[0-9]* >/dev/null 2>&1; then
	GPU_MISSING="no NVIDIA GPU on this machine (no /dev/nvidia*)"
elif ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1' &&
	[ ! -e /usr/local/nvidia/lib64/libcuda.so.1 ] && [ -z "${VGPU_LIBCUDA:-}" ]; then
	GPU_MISSING="no NVIDIA driver library (libcuda.so.1) on this machine"
fi
